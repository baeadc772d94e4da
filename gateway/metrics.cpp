#include "gateway/metrics.hpp"

#include <cstdio>

namespace gateway {

void Histogram::observe(std::chrono::microseconds d) noexcept {
  double s = static_cast<double>(d.count()) / 1e6;
  std::size_t i = 0;
  while (i < kBounds.size() && s > kBounds[i]) ++i;
  buckets[i].inc();
  sum_us.inc(static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count()));
  count.inc();
}

RouteStats& WorkerMetrics::route(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& p = routes_[name];
  if (!p) p = std::make_unique<RouteStats>();
  return *p;
}

ZoneStats& WorkerMetrics::zone(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& p = zones_[name];
  if (!p) p = std::make_unique<ZoneStats>();
  return *p;
}

UpstreamStats& WorkerMetrics::upstream(const std::string& name) {
  std::lock_guard lock(mu_);
  auto& p = upstreams_[name];
  if (!p) p = std::make_unique<UpstreamStats>();
  return *p;
}

namespace {
std::string label_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string fmt_double(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
}  // namespace

std::string render_prometheus(const std::vector<const WorkerMetrics*>& workers) {
  std::string out;
  auto line = [&](const std::string& name, const std::string& labels, std::uint64_t v) {
    out += name;
    if (!labels.empty()) out += "{" + labels + "}";
    out += " " + std::to_string(v) + "\n";
  };
  auto sum = [&](auto get) {
    std::uint64_t t = 0;
    for (const auto* w : workers) t += get(*w);
    return t;
  };

  out += "# HELP gateway_connections_active Client connections open now.\n# TYPE gateway_connections_active gauge\n";
  line("gateway_connections_active", "", sum([](const WorkerMetrics& w) { return w.connections_active.get(); }));
  out += "# HELP gateway_connections_total Client connections accepted.\n# TYPE gateway_connections_total counter\n";
  line("gateway_connections_total", "", sum([](const WorkerMetrics& w) { return w.connections_total.get(); }));
  out += "# HELP gateway_bad_requests_total Requests refused by the parser (4xx before routing).\n"
         "# TYPE gateway_bad_requests_total counter\n";
  line("gateway_bad_requests_total", "", sum([](const WorkerMetrics& w) { return w.bad_requests.get(); }));

  // Routes: sum per name across workers.
  std::map<std::string, std::array<std::uint64_t, 5>> routes;
  for (const auto* w : workers)
    w->for_each_route([&](const std::string& name, const RouteStats& s) {
      auto& a = routes[name];
      for (int i = 0; i < 5; ++i) a[i] += s.by_class[i].get();
    });
  out += "# HELP gateway_requests_total Requests answered, by route and status class.\n"
         "# TYPE gateway_requests_total counter\n";
  for (const auto& [name, a] : routes)
    for (int i = 0; i < 5; ++i)
      line("gateway_requests_total", "route=\"" + label_escape(name) + "\",code=\"" + std::to_string(i + 1) + "xx\"", a[i]);

  // Page and aggregate routes: what became of their fragments.
  std::map<std::string, std::array<std::uint64_t, 5>> frags;
  for (const auto* w : workers)
    w->for_each_route([&](const std::string& name, const RouteStats& s) {
      auto& a = frags[name];
      a[0] += s.fragment_hits.get();
      a[1] += s.fragment_misses.get();
      a[2] += s.fragment_timeouts.get();
      a[3] += s.fragment_errors.get();
      a[4] += s.fragment_fallbacks.get();
    });
  out += "# HELP gateway_page_fragments_total Fragments of page and aggregate routes, by outcome "
         "(hit: from the cache; miss: from upstream; fallback: replaced or left out).\n"
         "# TYPE gateway_page_fragments_total counter\n";
  static constexpr const char* kOutcomes[] = {"hit", "miss", "timeout", "error", "fallback"};
  for (const auto& [name, a] : frags) {
    if (a[0] + a[1] + a[2] + a[3] + a[4] == 0) continue;
    for (int i = 0; i < 5; ++i)
      line("gateway_page_fragments_total", "route=\"" + label_escape(name) + "\",outcome=\"" + kOutcomes[i] + "\"", a[i]);
  }

  struct Up {
    std::array<std::uint64_t, Histogram::kBounds.size() + 1> buckets{};
    std::uint64_t sum_us = 0, count = 0, opened = 0, reused = 0, errors = 0, retries = 0;
  };
  std::map<std::string, Up> ups;
  for (const auto* w : workers)
    w->for_each_upstream([&](const std::string& name, const UpstreamStats& s) {
      auto& u = ups[name];
      for (std::size_t i = 0; i < u.buckets.size(); ++i) u.buckets[i] += s.response_time.buckets[i].get();
      u.sum_us += s.response_time.sum_us.get();
      u.count += s.response_time.count.get();
      u.opened += s.pool.opened.load(std::memory_order_relaxed);
      u.reused += s.pool.reused.load(std::memory_order_relaxed);
      u.errors += s.errors.get();
      u.retries += s.retries.get();
    });
  out += "# HELP gateway_upstream_response_seconds Time from request sent to response head received.\n"
         "# TYPE gateway_upstream_response_seconds histogram\n";
  for (const auto& [name, u] : ups) {
    std::string l = "upstream=\"" + label_escape(name) + "\"";
    std::uint64_t cum = 0;
    for (std::size_t i = 0; i < u.buckets.size(); ++i) {
      cum += u.buckets[i];
      std::string le = i < Histogram::kBounds.size() ? fmt_double(Histogram::kBounds[i]) : "+Inf";
      line("gateway_upstream_response_seconds_bucket", l + ",le=\"" + le + "\"", cum);
    }
    out += "gateway_upstream_response_seconds_sum{" + l + "} " + fmt_double(static_cast<double>(u.sum_us) / 1e6) + "\n";
    line("gateway_upstream_response_seconds_count", l, u.count);
  }
  out += "# HELP gateway_upstream_connections_opened_total Upstream connections opened.\n"
         "# TYPE gateway_upstream_connections_opened_total counter\n";
  for (const auto& [name, u] : ups) line("gateway_upstream_connections_opened_total", "upstream=\"" + label_escape(name) + "\"", u.opened);
  out += "# HELP gateway_upstream_connections_reused_total Requests sent on a kept-alive upstream connection.\n"
         "# TYPE gateway_upstream_connections_reused_total counter\n";
  for (const auto& [name, u] : ups) line("gateway_upstream_connections_reused_total", "upstream=\"" + label_escape(name) + "\"", u.reused);
  out += "# HELP gateway_upstream_errors_total Requests answered 502/504 because of this upstream.\n"
         "# TYPE gateway_upstream_errors_total counter\n";
  for (const auto& [name, u] : ups) line("gateway_upstream_errors_total", "upstream=\"" + label_escape(name) + "\"", u.errors);
  out += "# HELP gateway_upstream_retries_total Attempts moved to another instance.\n"
         "# TYPE gateway_upstream_retries_total counter\n";
  for (const auto& [name, u] : ups) line("gateway_upstream_retries_total", "upstream=\"" + label_escape(name) + "\"", u.retries);
  return out;
}

}  // namespace gateway
