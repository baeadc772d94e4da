// A zone's hit-rate report (see hit_report.hpp).
#include "cache/hit_report.hpp"

#include <algorithm>

namespace gateway::cache {

namespace {
// Floor division: periods of negative times stay apart.
std::int64_t period_of(std::int64_t now, std::int64_t width) { return now >= 0 ? now / width : (now - width + 1) / width; }
}  // namespace

void HitWindow::add(std::int64_t now, const HitCounts& c) {
  const auto period = period_of(now, width_);
  const auto n = static_cast<std::int64_t>(ring_.size());
  auto& b = ring_[static_cast<std::size_t>((period % n + n) % n)];
  if (b.period != period) b = Bucket{period, {}};
  b.counts += c;
}

HitCounts HitWindow::total(std::int64_t now) const {
  const auto current = period_of(now, width_);
  const auto oldest = current - static_cast<std::int64_t>(ring_.size()) + 1;
  HitCounts sum;
  for (const auto& b : ring_)
    if (b.period >= oldest && b.period <= current) sum += b.counts;
  return sum;
}

TopKeys::TopKeys(std::size_t capacity, std::size_t max_key) : capacity_(std::max<std::size_t>(capacity, 1)), max_key_(max_key) {
  items_.reserve(capacity_);
  index_.reserve(capacity_);
}

void TopKeys::add(std::string_view key, std::uint64_t weight) {
  if (weight == 0) return;
  key = key.substr(0, max_key_);
  if (auto it = index_.find(key); it != index_.end()) {
    items_[it->second].count += weight;
    return;
  }
  std::string k(key);
  if (items_.size() < capacity_) {
    index_.emplace(k, items_.size());
    items_.push_back(Item{std::move(k), weight, 0});
    return;
  }
  // The smallest counter takes the new key, which inherits its count as error.
  auto min = std::min_element(items_.begin(), items_.end(), [](const Item& a, const Item& b) { return a.count < b.count; });
  index_.erase(min->key);
  const auto slot = static_cast<std::size_t>(min - items_.begin());
  min->error = min->count;
  min->count += weight;
  min->key = k;
  index_.emplace(std::move(k), slot);
}

std::vector<TopKeys::Item> TopKeys::top(std::size_t k) const {
  std::vector<Item> out = items_;
  auto by_count = [](const Item& a, const Item& b) { return a.count != b.count ? a.count > b.count : a.key < b.key; };
  const auto n = std::min(k, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n), out.end(), by_count);
  out.resize(n);
  return out;
}

void HitReport::add(const HitEvent& e) {
  HitCounts c;
  c.requests = 1;
  c.bytes = e.body;
  if (served_from_cache(e.status)) {
    c.hits = 1;
    c.hit_bytes = e.body;
  }
  std::lock_guard lock(mu_);
  zone_.add(e.now, c);
  auto route = std::find_if(routes_.begin(), routes_.end(), [&](const auto& r) { return r.first == e.route; });
  if (route == routes_.end()) route = routes_.insert(routes_.end(), {std::string(e.route), Windows{}});
  route->second.add(e.now, c);
  if (is_miss(e.status) && !e.key.empty()) {
    misses_.add(e.key, 1);
    fetched_.add(e.key, e.fetched);
  }
}

HitReportView HitReport::view(std::int64_t now, std::size_t k) const {
  HitReportView v;
  std::lock_guard lock(mu_);
  v.zone = zone_.at(now);
  for (const auto& [name, w] : routes_) v.routes.emplace_back(name, w.at(now));
  std::sort(v.routes.begin(), v.routes.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  v.top_misses = misses_.top(k);
  v.top_fetched = fetched_.top(k);
  return v;
}

}  // namespace gateway::cache
