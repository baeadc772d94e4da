#include "gateway/server.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <functional>
#include <thread>

#include "base/log.hpp"
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

Server::Server(std::shared_ptr<const Runtime> runtime) : runtime_(std::move(runtime)) {}

Server::~Server() {
  health_.stop();
  for (auto* list : {&workers_, &retired_})
    for (auto& w : *list) {
      w->stop();
      w->join();
    }
}

bool Server::start(std::string& error) {
  const auto& cfg = *runtime_->config;
  int n = worker_count(cfg);
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(i, admin_));
  publish_workers();

  try {
    for (std::size_t i = 0; i < cfg.listen.size(); ++i) {
      const auto& l = cfg.listen[i];
      tcp::endpoint ep = to_endpoint(l.address);
      for (auto& w : workers_) {
        auto a = make_acceptor(w->io(), ep, true);
        // Port 0: the first bind picks the port, the other workers join it.
        ep = a.local_endpoint();
        w->add_acceptor(std::move(a), &l, i);
      }
      bound_.push_back({l, ep});
      log::info("listening on " + endpoint_text(ep) + " (" + (l.tls ? "tls, " : "") + std::to_string(n) +
                " workers)");
    }
    if (cfg.admin.listen) {
      auto a = make_acceptor(workers_[0]->io(), to_endpoint(*cfg.admin.listen), false);
      log::info("admin listening on " + endpoint_text(a.local_endpoint()));
      admin_bound_ = Bound{ListenConfig{}, a.local_endpoint()};
      admin_bound_->config.address = *cfg.admin.listen;
      workers_[0]->add_acceptor(std::move(a), nullptr);
    }
  } catch (const std::exception& e) {
    error = std::string("cannot listen: ") + e.what();
    return false;
  }

  for (auto& w : workers_) w->start(runtime_);
  health_.set_groups(runtime_->groups);
  health_.start();
  return true;
}

int Server::wait() {
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  // main() blocked them until now: a SIGHUP right after start (the
  // listeners are bound and logged before this) would have ended the
  // process by its default action.
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&handled, sig);
  pthread_sigmask(SIG_UNBLOCK, &handled, nullptr);
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
        return;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        log::warn("drain deadline passed; closing the remaining connections");
        for (auto* list : {&workers_, &retired_})
          for (auto& w : *list) w->stop();
        signals.cancel();
        return;
      }
      watch_drain();
    });
  };

  std::function<void()> on_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        reload();
      } else if (!draining) {
        draining = true;
        log::info(std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") + ": finishing requests in flight, then exiting");
        deadline = std::chrono::steady_clock::now() + runtime_->config->timeouts.shutdown;
        // Retired workers too: their idle keep-alive connections close now.
        for (auto* list : {&workers_, &retired_})
          for (auto& w : *list)
            if (!w->finished()) w->post_drain();
        watch_drain();
      } else {
        log::warn("second stop signal: exiting now");
        for (auto* list : {&workers_, &retired_})
          for (auto& w : *list) w->stop();
        poll.cancel();
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
  log::info("stopped");
  return 0;
}

}  // namespace gateway
