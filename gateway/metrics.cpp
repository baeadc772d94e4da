#include "gateway/metrics.hpp"

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

TlsStats& WorkerMetrics::tls(const std::string& listener) {
  std::lock_guard lock(mu_);
  auto& p = tls_[listener];
  if (!p) p = std::make_unique<TlsStats>();
  return *p;
}

}  // namespace gateway
