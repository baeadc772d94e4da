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
#include "gateway/worker.hpp"

namespace gateway {

namespace {
namespace ip = boost::asio::ip;

// An acceptor on `ep` that shares its port with the other workers'
// (SO_REUSEPORT: the kernel spreads connections over them).
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
}  // namespace

Server::Server(std::shared_ptr<const Runtime> runtime) : runtime_(std::move(runtime)) {}

Server::~Server() {
  health_.stop();
  for (auto& w : workers_) {
    w->stop();
    w->join();
  }
}

bool Server::start(std::string& error) {
  const auto& cfg = *runtime_->config;
  int n = cfg.workers > 0 ? cfg.workers : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(i, admin_));
  std::vector<const Worker*> views;
  for (auto& w : workers_) views.push_back(w.get());
  admin_.set_workers(views);

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
      log::info("listening on " + endpoint_text(ep) + " (" + (l.tls ? "tls, " : "") + std::to_string(n) +
                " workers)");
    }
    if (cfg.admin.listen) {
      auto a = make_acceptor(workers_[0]->io(), to_endpoint(*cfg.admin.listen), false);
      log::info("admin listening on " + endpoint_text(a.local_endpoint()));
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

void Server::reload() {
  const auto& path = runtime_->config->file;
  auto loaded = load_config(path);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors) log::error(e.to_string());
    log::error("reload of " + path + " failed; keeping the running configuration");
    return;
  }
  std::string error;
  auto rt = Runtime::build(loaded.config, runtime_.get(), error);
  if (!rt) {
    log::error(error + "; keeping the running configuration");
    return;
  }
  const auto& old_cfg = *runtime_->config;
  const auto& new_cfg = *rt->config;
  auto texts = [](const std::vector<ListenConfig>& v) {
    std::vector<std::string> t;
    for (const auto& l : v) t.push_back(l.address.text);
    return t;
  };
  if (texts(old_cfg.listen) != texts(new_cfg.listen) || old_cfg.workers != new_cfg.workers ||
      (old_cfg.admin.listen ? old_cfg.admin.listen->text : "") != (new_cfg.admin.listen ? new_cfg.admin.listen->text : ""))
    log::warn("listen, admin.listen and workers changes take effect at the next restart");
  apply(std::move(rt));
  log::info("configuration reloaded from " + path);
}

void Server::apply(std::shared_ptr<const Runtime> rt) {
  runtime_ = rt;
  for (auto& w : workers_) w->post_runtime(rt);
  health_.set_groups(rt->groups);
}

void Server::reopen_logs() {
  std::string error;
  if (runtime_->access_log->reopen(error)) log::info("SIGUSR1: access log reopened");
  else log::error(error + "; still writing to the old file");
}

int Server::wait() {
  asio::io_context io;
  asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR1);
  // main() blocked these in every thread; with the handlers installed, this
  // thread takes them (one sent before now was kept pending, not lost).
  sigset_t handled;
  sigemptyset(&handled);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&handled, sig);
  pthread_sigmask(SIG_UNBLOCK, &handled, nullptr);
  bool draining = false;
  auto deadline = std::chrono::steady_clock::time_point::max();
  asio::steady_timer poll(io);

  std::function<void()> watch_drain = [&] {
    poll.expires_after(std::chrono::milliseconds(50));
    poll.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      bool all_done = true;
      for (auto& w : workers_) all_done = all_done && w->finished();
      if (all_done) {
        signals.cancel();
        return;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        log::warn("drain deadline passed; closing the remaining connections");
        for (auto& w : workers_) w->stop();
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
      } else if (sig == SIGUSR1) {
        reopen_logs();
      } else if (!draining) {
        draining = true;
        log::info(std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") + ": finishing requests in flight, then exiting");
        deadline = std::chrono::steady_clock::now() + runtime_->config->timeouts.shutdown;
        for (auto& w : workers_) w->post_drain();
        watch_drain();
      } else {
        log::warn("second stop signal: exiting now");
        for (auto& w : workers_) w->stop();
        poll.cancel();
        return;
      }
      on_signal();
    });
  };
  on_signal();
  io.run();

  health_.stop();
  for (auto& w : workers_) w->join();
  log::info("stopped");
  return 0;
}

}  // namespace gateway
