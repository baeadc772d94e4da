#include "gateway/admin.hpp"

#include "gateway/json.hpp"
#include "gateway/worker.hpp"

#ifndef GATEWAY_VERSION
#define GATEWAY_VERSION "dev"
#endif

namespace gateway {

Admin::Admin() : started_(std::chrono::steady_clock::now()) {}

std::string Admin::metrics_text() const {
  std::vector<const WorkerMetrics*> m;
  for (const auto* w : workers_) m.push_back(&w->metrics());
  return render_prometheus(m);
}

std::string Admin::status_json(const Worker& worker) const {
  const auto& rt = *worker.state()->runtime;
  auto now = http::Clock::now();
  std::uint64_t active = 0;
  for (const auto* w : workers_) active += w->metrics().connections_active.get();
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();

  std::string out = "{\"version\":";
  json::append_string(out, GATEWAY_VERSION);
  out += ",\"config\":";
  json::append_string(out, rt.config->file);
  out += ",\"uptime_seconds\":" + std::to_string(uptime);
  out += ",\"workers\":" + std::to_string(workers_.size());
  out += ",\"connections_active\":" + std::to_string(active);
  out += ",\"upstreams\":{";
  for (std::size_t g = 0; g < rt.groups.size(); ++g) {
    const auto& group = *rt.groups[g];
    if (g) out += ",";
    json::append_string(out, group.name());
    static constexpr const char* kBalance[] = {"round_robin", "weighted", "least_conn", "hash"};
    out += ":{\"balance\":\"" + std::string(kBalance[static_cast<int>(group.config().balance)]) + "\",\"instances\":[";
    for (std::size_t i = 0; i < group.size(); ++i) {
      const auto& inst = group.instance(i);
      if (i) out += ",";
      bool probe_up = inst.probe_up.load();
      bool ejected = !group.usable(i, now) && probe_up;
      const char* state = !probe_up ? "down" : ejected ? "ejected" : "up";
      out += "{\"address\":";
      json::append_string(out, inst.address.text);
      out += ",\"weight\":" + std::to_string(inst.weight);
      out += ",\"state\":\"" + std::string(state) + "\"";
      out += ",\"health_check\":\"" + std::string(!group.config().health ? "off" : probe_up ? "up" : "down") + "\"";
      out += ",\"fails\":" + std::to_string(inst.fails.load());
      out += ",\"failures_total\":" + std::to_string(inst.failures_total.load());
      out += ",\"ejections_total\":" + std::to_string(inst.ejections_total.load());
      out += "}";
    }
    out += "]}";
  }
  out += "}}\n";
  return out;
}

boost::asio::awaitable<void> Admin::serve(Downstream& down, Worker& worker) {
  const auto& req = down.request();
  auto path = req.path();
  down.info().route = "admin";
  if (req.method != "GET" && req.method != "HEAD") {
    co_await respond(down, 405, "405 Method Not Allowed\n");
    co_return;
  }
  if (path == "/metrics") {
    co_await respond(down, 200, metrics_text(), "text/plain; version=0.0.4; charset=utf-8");
  } else if (path == "/status") {
    co_await respond(down, 200, status_json(worker), "application/json");
  } else if (path == "/health") {
    co_await respond(down, 200, "ok\n");
  } else {
    co_await respond(down, 404, "404 Not Found: admin endpoints are /metrics, /status, /health\n");
  }
}

}  // namespace gateway
