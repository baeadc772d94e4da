// The process: binds the listeners, starts the workers and the health
// checker, and turns signals into actions on the main thread: SIGHUP
// reloads the configuration (all of it: listeners, workers, zones; see
// server_reload.cpp), SIGUSR1 reopens the access log file, SIGTERM/SIGINT
// drain and stop, SIGUSR2 starts the binary again and hands it the
// listening sockets (binary_upgrade.hpp).
#pragma once

#include <signal.h>

#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "gateway/admin.hpp"
#include "gateway/config.hpp"
#include "gateway/handover.hpp"
#include "gateway/runtime.hpp"
#include "upstreams/health.hpp"

namespace gateway {

class Worker;
class BinaryUpgrade;

// The signals the main thread handles (Server::wait): stop (INT, TERM),
// reload (HUP), reopen the access log (USR1), binary upgrade (USR2). main()
// blocks them in every thread before any starts; wait() unblocks them on its
// own once its handlers are installed.
inline constexpr int kControlSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};
void set_control_signals_blocked(bool blocked);

class Server {
 public:
  explicit Server(std::shared_ptr<const Runtime> runtime);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener and starts the workers; false with `error` set if a
  // listener cannot be bound.
  bool start(std::string& error);
  // Before start(): the sockets handed over by the process this one
  // replaces (binary upgrade, SIGUSR2); used for the matching listeners.
  void set_inherited(Inherited* inherited) { inherited_ = inherited; }
  // For STATUS= lines: what this process serves.
  std::string serving_status() const;
  // Runs until a stop signal and the drain that follows; returns the exit code.
  int wait();

 private:
  // A listen entry being served: as configured, and the endpoint bound
  // (the port the kernel chose for port 0, which new workers join).
  struct Bound {
    ListenConfig config;
    boost::asio::ip::tcp::endpoint endpoint;
  };
  struct ReloadPlan;  // server_reload.cpp

  void reload();
  void apply(std::shared_ptr<const Runtime> rt);
  void reopen_logs();
  void upgrade(BinaryUpgrade& up, bool draining, std::function<void()> drain);
  // server_reload.cpp: binds what `next` adds (listeners, workers), or
  // leaves everything as it is and returns false with `error` set.
  bool prepare(const Config& next, ReloadPlan& plan, std::string& error);
  void commit(ReloadPlan& plan, const std::shared_ptr<const Runtime>& rt);
  // A worker id not used by a running worker (a finished one's is free again).
  int free_worker_id() const;
  void publish_workers();

  std::shared_ptr<const Runtime> runtime_;
  // The main thread's loop (signals, membership changes) and the live
  // membership of the upstream groups (gateway/fleet.hpp).
  boost::asio::io_context io_;
  std::unique_ptr<class Fleet> fleet_;
  Admin admin_;
  std::vector<std::unique_ptr<Worker>> workers_;
  // Workers a reload let go: draining, then finished; kept for their
  // counters (the /metrics totals never go down).
  std::vector<std::unique_ptr<Worker>> retired_;
  std::vector<Bound> bound_;
  std::optional<Bound> admin_bound_;
  upstreams::HealthChecker health_;
  Inherited* inherited_ = nullptr;
  std::vector<HandedSocket> listening_;  // every listening socket, for a binary upgrade
};

}  // namespace gateway
