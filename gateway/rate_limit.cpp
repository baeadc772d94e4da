#include "gateway/rate_limit.hpp"

#include <algorithm>
#include <charconv>
#include <functional>

#include "cache/policy.hpp"

namespace gateway::limit {

namespace {
constexpr std::int64_t kOne = 1000;  // one request, in the buckets' unit
constexpr std::int64_t kMaxCount = 1'000'000;
}  // namespace

std::optional<std::int64_t> parse_rate(std::string_view text) {
  std::int64_t count = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (ec != std::errc() || end == text.data() || count < 1 || count > kMaxCount) return std::nullopt;
  std::string_view unit(end, static_cast<std::size_t>(text.data() + text.size() - end));
  if (unit == "r/s") return count * kOne;
  if (unit == "r/m") return count * kOne / 60;  // as nginx: 1r/m is 16
  return std::nullopt;
}

Decision decide(Bucket& bucket, std::int64_t now_ms, std::int64_t rate, std::int64_t burst, std::int64_t delay) {
  if (!bucket.used) {
    bucket = {true, 0, now_ms};
    return {};
  }
  std::int64_t ms = now_ms - bucket.last_ms;
  if (ms < -60'000) ms = 1;
  else if (ms < 0) ms = 0;
  // excess - rate*ms + one request, at least 0 (the drain absorbs the new
  // request too: 1r/s lets one through every second even with no burst),
  // without overflowing for a key idle for long.
  const std::int64_t drain_all_ms = (bucket.excess + kOne) * 1000 / rate + 1;
  const std::int64_t excess =
      ms >= drain_all_ms ? 0 : std::max<std::int64_t>(bucket.excess - rate * ms / 1000 + kOne, 0);
  if (excess > burst * kOne) {
    // Passes once the excess is back to burst - 1 request.
    const std::int64_t wait_ms = (excess - burst * kOne) * 1000 / rate;
    return {Decision::Verdict::reject, std::chrono::milliseconds(0), std::max<std::int64_t>(1, (wait_ms + 999) / 1000)};
  }
  bucket.excess = excess;
  if (ms != 0) bucket.last_ms = now_ms;
  if (excess <= delay * kOne) return {};
  return {Decision::Verdict::delay, std::chrono::milliseconds((excess - delay * kOne) * 1000 / rate), 0};
}

std::optional<std::string_view> request_key(const RateLimitConfig& rule, std::string_view client,
                                            const http::HeaderMap& headers) {
  std::optional<std::string_view> key;
  switch (rule.key) {
    case KeyKind::client_ip: key = client; break;
    case KeyKind::header: key = headers.get(rule.key_name); break;
    case KeyKind::cookie: key = cache::find_cookie(headers, rule.key_name); break;
  }
  if (key && key->empty()) return std::nullopt;
  return key;
}

// --- The shared buckets -------------------------------------------------------------

RateLimiter::RateLimiter(RateLimitConfig rule)
    : rule_(std::move(rule)),
      // Small tables in one shard, so that the least recently used key is
      // the one forgotten; large ones spread over 16.
      per_shard_(0),
      shards_(rule_.max_keys >= 256 ? 16 : 1) {
  per_shard_ = std::max<std::size_t>(1, rule_.max_keys / shards_.size());
}

Decision RateLimiter::take(std::string_view key, std::int64_t now_ms) {
  auto& shard = shards_[std::hash<std::string_view>{}(key) % shards_.size()];
  std::lock_guard lock(shard.mu);
  auto found = shard.index.find(key);
  if (found != shard.index.end()) {
    shard.lru.splice(shard.lru.begin(), shard.lru, found->second);
  } else {
    if (shard.index.size() >= per_shard_) {
      shard.index.erase(shard.lru.back().key);
      shard.lru.pop_back();
    }
    shard.lru.push_front(Node{std::string(key), {}});
    found = shard.index.emplace(shard.lru.front().key, shard.lru.begin()).first;
  }
  return decide(found->second->bucket, now_ms, rule_.rate, rule_.burst, rule_.nodelay ? rule_.burst : rule_.delay);
}

std::size_t RateLimiter::keys() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.index.size();
  }
  return n;
}

// --- Connections per client ----------------------------------------------------------

ClientConnections::Slot::Slot(ClientConnections* table, std::string_view key)
    : table_(table), len_(static_cast<std::uint8_t>(std::min(key.size(), kMaxKey))) {
  std::copy_n(key.data(), len_, key_.data());
}

ClientConnections::Slot& ClientConnections::Slot::operator=(Slot&& o) noexcept {
  if (this != &o) {
    release();
    table_ = std::exchange(o.table_, nullptr);
    key_ = o.key_;
    len_ = o.len_;
  }
  return *this;
}

void ClientConnections::Slot::release() {
  if (table_) std::exchange(table_, nullptr)->release(std::string_view(key_.data(), len_));
}

ClientConnections::Shard& ClientConnections::shard(std::string_view address) {
  return shards_[std::hash<std::string_view>{}(address) % kShards];
}

const ClientConnections::Shard& ClientConnections::shard(std::string_view address) const {
  return shards_[std::hash<std::string_view>{}(address) % kShards];
}

std::optional<ClientConnections::Slot> ClientConnections::acquire(std::string_view address, std::size_t max) {
  if (max == 0) return std::nullopt;
  address = address.substr(0, kMaxKey);
  auto& s = shard(address);
  std::lock_guard lock(s.mu);
  auto [it, inserted] = s.open.try_emplace(std::string(address), 0);
  if (it->second >= max) return std::nullopt;
  ++it->second;
  return Slot(this, it->first);
}

void ClientConnections::release(std::string_view key) {
  auto& s = shard(key);
  std::lock_guard lock(s.mu);
  auto it = s.open.find(std::string(key));
  if (it == s.open.end()) return;
  if (--it->second == 0) s.open.erase(it);
}

std::size_t ClientConnections::open(std::string_view address) const {
  const auto& s = shard(address);
  std::lock_guard lock(s.mu);
  auto it = s.open.find(std::string(address.substr(0, kMaxKey)));
  return it == s.open.end() ? 0 : it->second;
}

ClientConnections& ClientConnections::process() {
  static ClientConnections table;
  return table;
}

}  // namespace gateway::limit
