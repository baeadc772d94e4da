#include "gateway/server.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <functional>
#include <thread>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "base/log.hpp"
#include "gateway/access_serve.hpp"
#include "gateway/fleet.hpp"
#include "gateway/binary_upgrade.hpp"
#include "gateway/systemd.hpp"
#include "gateway/listen_socket.hpp"
#include "gateway/worker.hpp"

namespace gateway {

namespace ip = boost::asio::ip;

tcp::acceptor make_acceptor(asio::io_context& io, const tcp::endpoint& ep, bool reuse_port) {
  tcp::acceptor a(io);
  a.open(ep.protocol());
  a.set_option(asio::socket_base::reuse_address(true));
  if (reuse_port) {
    int one = 1;
    if (::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
      throw boost::system::system_error(errno, boost::system::system_category(), "SO_REUSEPORT");
  }
  if (ep.protocol() == tcp::v6()) a.set_option(ip::v6_only(true));
  a.bind(ep);
  a.listen(asio::socket_base::max_listen_connections);
  a.non_blocking(true);
  return a;
}

tcp::endpoint to_endpoint(const Endpoint& e) {
  boost::system::error_code ec;
  auto addr = ip::make_address(e.host, ec);
  if (ec) {
    // A host name: take the first address it resolves to.
    asio::io_context io;
    tcp::resolver r(io);
    auto res = r.resolve(e.host, std::to_string(e.port));
    return *res.begin();
  }
  return {addr, e.port};
}

std::string endpoint_text(const tcp::endpoint& ep) {
  auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

int worker_count(const Config& cfg) {
  return cfg.workers > 0 ? cfg.workers : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Server::Server(std::shared_ptr<const Runtime> runtime)
    : runtime_(std::move(runtime)), fleet_(std::make_unique<Fleet>(io_, [this](auto rt) { apply(std::move(rt)); })) {}

Server::~Server() {
  fleet_->stop();
  health_.stop();
  for (auto* list : {&workers_, &retired_})
    for (auto& w : *list) {
      w->stop();
      w->join();
    }
  access::end_crypt_threads();
}

bool Server::start(std::string& error) {
  runtime_ = fleet_->adopt(runtime_, false);
  // Admin API changes are made here, on the main thread.
  // The answer goes back to the worker's coroutine on its own executor.
  admin_.set_control([this](UpstreamsRequest req) {
    return asio::async_initiate<const asio::use_awaitable_t<>, void(AdminReply)>(
        [this](auto handler, UpstreamsRequest r) {
          asio::post(io_, [this, r = std::move(r), handler = std::move(handler)]() mutable {
            auto reply = fleet_->change(r);
            auto ex = asio::get_associated_executor(handler);
            asio::post(ex, [handler = std::move(handler), reply = std::move(reply)]() mutable {
              std::move(handler)(std::move(reply));
            });
          });
        },
        asio::use_awaitable, std::move(req));
  });
  const auto& cfg = *runtime_->config;
  int n = worker_count(cfg);
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(i, admin_));
  publish_workers();

  std::vector<asio::io_context*> ios;
  for (auto& w : workers_) ios.push_back(&w->io());
  try {
    // Sockets handed over by the process this one upgrades are used first
    // (handover.hpp); what is not there is bound.
    for (std::size_t i = 0; i < cfg.listen.size(); ++i) {
      const auto& l = cfg.listen[i];
      auto per_worker = listen_on(ios, to_endpoint(l.address), l.address.text, false, inherited_,
                                  [](asio::io_context& io, const tcp::endpoint& ep) { return make_acceptor(io, ep, true); });
      tcp::endpoint ep = per_worker[0].front().local_endpoint();
      for (std::size_t w = 0; w < workers_.size(); ++w)
        for (auto& a : per_worker[w]) {
          listening_.push_back({false, l.address.text, a.native_handle()});
          workers_[w]->add_acceptor(std::move(a), &l, i);
        }
      bound_.push_back({l, ep});
      log::info("listening on " + endpoint_text(ep) + " (" + (l.tls ? "tls, " : "") + std::to_string(n) +
                " workers)");
    }
    if (cfg.admin.listen) {
      auto a = std::move(listen_on(ios, to_endpoint(*cfg.admin.listen), cfg.admin.listen->text, true, inherited_,
                                   [](asio::io_context& io, const tcp::endpoint& ep) { return make_acceptor(io, ep, false); })[0]);
      log::info("admin listening on " + endpoint_text(a.front().local_endpoint()));
      admin_bound_ = Bound{ListenConfig{}, a.front().local_endpoint()};
      admin_bound_->config.address = *cfg.admin.listen;
      for (auto& acceptor : a) {
        listening_.push_back({true, cfg.admin.listen->text, acceptor.native_handle()});
        workers_[0]->add_acceptor(std::move(acceptor), nullptr);
      }
    }
  } catch (const std::exception& e) {
    error = std::string("cannot listen: ") + e.what();
    return false;
  }
  if (inherited_)
    for (const auto& text : inherited_->close_unused())
      log::info("upgrade: " + text + " is no longer configured; its socket closes when the old process exits");

  for (auto& w : workers_) w->start(runtime_);
  health_.set_groups(runtime_->groups);
  health_.start();
  return true;
}

void Server::reopen_logs() {
  std::string error;
  if (runtime_->access_log->reopen(error)) log::info("SIGUSR1: access log reopened");
  else log::error(error + "; still writing to the old file");
  for (const auto& z : runtime_->zones) z->reopen_trace();  // a trace moved away starts anew
}

std::string Server::serving_status() const {
  const auto& cfg = *runtime_->config;
  return "serving " + std::to_string(cfg.listen.size()) + " listeners with " + std::to_string(workers_.size()) +
         " workers";
}

// SIGUSR2: start the binary this process was started from, hand it the
// listening sockets, and drain once it serves; refused while a drain or
// another upgrade is under way.
void Server::upgrade(BinaryUpgrade& up, bool draining, std::function<void()> drain) {
  if (draining || up.in_progress()) {
    log::warn(std::string("SIGUSR2 refused: ") + (draining ? "this process is draining" : "an upgrade is under way"));
    return;
  }
  std::string error;
  bool started = up.start(
      listening_,
      [this, drain](pid_t pid) {
        log::info("upgrade: new process " + std::to_string(pid) + " serves; this one stops accepting");
        // Nothing to systemd: the service goes on under its new main pid
        // (no STOPPING=1, and no STATUS= over the new process's).
        drain();
      },
      [this](const std::string& why) {
        log::error("upgrade failed: " + why + "; this process keeps serving");
        systemd::status(serving_status());
      },
      error);
  if (!started) {
    log::error("upgrade failed: " + error + "; this process keeps serving");
    return;
  }
  systemd::status("upgrading: a new binary is starting");
}

void set_control_signals_blocked(bool blocked) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kControlSignals) sigaddset(&set, sig);
  pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

int Server::wait() {
  auto& io = io_;
  asio::signal_set signals(io);
  for (int sig : kControlSignals) signals.add(sig);
  BinaryUpgrade binary_upgrade(io);
  // main() blocked these in every thread; with the handlers installed, this
  // thread takes them (one sent before now was kept pending, not lost).
  set_control_signals_blocked(false);
  bool draining = false;
  auto deadline = std::chrono::steady_clock::time_point::max();
  asio::steady_timer poll(io);

  std::function<void()> watch_drain = [&] {
    poll.expires_after(std::chrono::milliseconds(50));
    poll.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      bool all_done = true;
      for (auto* list : {&workers_, &retired_})
        for (auto& w : *list) all_done = all_done && w->finished();
      if (all_done) {
        signals.cancel();
        binary_upgrade.abandon();
        return;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        log::warn("drain deadline passed; closing the remaining connections");
        for (auto* list : {&workers_, &retired_})
          for (auto& w : *list) w->stop();
        signals.cancel();
        binary_upgrade.abandon();
        return;
      }
      watch_drain();
    });
  };

  auto start_drain = [&](const std::string& why) {
    draining = true;
    fleet_->stop();  // no more membership changes: nothing holds the loop
    log::info(why + ": finishing requests in flight, then exiting");
    deadline = std::chrono::steady_clock::now() + runtime_->config->timeouts.shutdown;
    // Retired workers too: their idle keep-alive connections close now.
    for (auto* list : {&workers_, &retired_})
      for (auto& w : *list)
        if (!w->finished()) w->post_drain();
    watch_drain();
  };
  std::function<void()> on_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        systemd::reloading();
        reload();
        systemd::ready(serving_status());
      } else if (sig == SIGUSR1) {
        reopen_logs();
      } else if (sig == SIGUSR2) {
        upgrade(binary_upgrade, draining, [&] {
          if (!draining) start_drain("upgrade");
        });
      } else if (!draining) {
        systemd::stopping("draining: finishing requests in flight");
        start_drain(sig == SIGTERM ? "SIGTERM" : "SIGINT");
      } else {
        log::warn("second stop signal: exiting now");
        for (auto* list : {&workers_, &retired_})
          for (auto& w : *list) w->stop();
        poll.cancel();
        binary_upgrade.abandon();
        return;
      }
      on_signal();
    });
  };
  on_signal();
  io.run();

  health_.stop();
  for (auto* list : {&workers_, &retired_})
    for (auto& w : *list) w->join();
  access::end_crypt_threads();
  log::info("stopped");
  return 0;
}

}  // namespace gateway
