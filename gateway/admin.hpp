// The admin listener's endpoints: /metrics (Prometheus text, written by
// prometheus.hpp), /status (JSON: upstream instances and their health, cache
// zones), /health, POST /purge, and GET /cache/report (hit ratios per zone
// and route, the keys missed most: cache/hit_report.hpp). Served by the worker that accepted the
// admin connection; reads other workers' counters through their atomics and
// never blocks them.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/admin_upstreams.hpp"
#include "gateway/exchange.hpp"

namespace gateway {

class Worker;

class Admin {
 public:
  Admin();
  // Any thread (a reload changes them): every worker whose counters count,
  // running or retired, and how many of them run (/status's "workers").
  void set_workers(std::vector<const Worker*> workers, std::size_t running);
  void set_workers(std::vector<const Worker*> workers) { workers_ = std::move(workers); }
  // Before workers start: applies an upstream membership change (on the
  // server's main thread) and answers.
  using Control = std::function<boost::asio::awaitable<AdminReply>(UpstreamsRequest)>;
  void set_control(Control control) { control_ = std::move(control); }

  boost::asio::awaitable<void> serve(Downstream& down, Worker& worker);

  std::string metrics_text(const Worker& worker) const;
  std::string status_json(const Worker& worker) const;
  // GET /cache/report[?zone=NAME]: null if there is no such zone.
  std::optional<std::string> report_json(const Worker& worker, std::optional<std::string_view> zone) const;
  // POST /purge: local, then the shared tier (which tells the fleet).
  boost::asio::awaitable<void> purge(Downstream& down, Worker& worker) const;
  // /upstreams...: admin_upstreams.hpp.
  boost::asio::awaitable<void> upstreams(Downstream& down, Worker& worker);

 private:
  Control control_;
  std::vector<const Worker*> workers() const;

  mutable std::mutex workers_mu_;
  std::vector<const Worker*> workers_;
  std::size_t running_ = 0;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace gateway
