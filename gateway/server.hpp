// The process: binds the listeners, starts the workers and the health
// checker, and turns signals into actions on the main thread: SIGHUP
// reloads the configuration (all of it: listeners, workers, zones; see
// server_reload.cpp), SIGTERM/SIGINT drain and stop.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/admin.hpp"
#include "gateway/config.hpp"
#include "gateway/runtime.hpp"
#include "upstreams/health.hpp"

namespace gateway {

class Worker;

class Server {
 public:
  explicit Server(std::shared_ptr<const Runtime> runtime);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listener and starts the workers; false with `error` set if a
  // listener cannot be bound.
  bool start(std::string& error);
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
  // server_reload.cpp: binds what `next` adds (listeners, workers), or
  // leaves everything as it is and returns false with `error` set.
  bool prepare(const Config& next, ReloadPlan& plan, std::string& error);
  void commit(ReloadPlan& plan, const std::shared_ptr<const Runtime>& rt);
  // A worker id not used by a running worker (a finished one's is free again).
  int free_worker_id() const;
  void publish_workers();

  std::shared_ptr<const Runtime> runtime_;
  Admin admin_;
  std::vector<std::unique_ptr<Worker>> workers_;
  // Workers a reload let go: draining, then finished; kept for their
  // counters (the /metrics totals never go down).
  std::vector<std::unique_ptr<Worker>> retired_;
  std::vector<Bound> bound_;
  std::optional<Bound> admin_bound_;
  upstreams::HealthChecker health_;
};

}  // namespace gateway
