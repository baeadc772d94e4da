// The fleet's shared tier (see shared_tier.hpp): the Redis value of an
// entry, lookups, fills, the fleet lock, purges and the subscriber's
// messages. Calls run on the worker that owns the connection they use;
// on_message on the subscriber's worker, waking waiters on theirs.
#include "cache/shared_tier.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <algorithm>
#include <cstring>
#include <random>
#include <utility>

#include "cache/redis_routing.hpp"
#include "cache/store.hpp"
#include "base/log.hpp"

namespace gateway::cache {

namespace asio = boost::asio;

namespace {
constexpr std::string_view kMagic = "GWR2";

std::string random_instance() {
  std::random_device rd;
  std::uint64_t v = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// "a,b" <-> {"a","b"}: Vary field names hold no commas.
std::string join_fields(const std::vector<std::string>& fields) {
  std::string out;
  for (const auto& f : fields) {
    if (!out.empty()) out += ',';
    out += f;
  }
  return out;
}

std::vector<std::string> split_fields(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto comma = s.find(',');
    out.emplace_back(s.substr(0, comma));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

// Messages on the channel: kind, sender and arguments on lines of their
// own (keys percent-encode control bytes, so they hold no line feed).
std::string message(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out += '\n';
    out += p;
  }
  return out;
}

// Command arguments, built outside the coroutines: g++ 12 cannot keep a
// braced list's backing array in a coroutine frame.
template <class... A>
std::vector<std::string_view> args(const A&... a) {
  return {std::string_view(a)...};
}

std::vector<std::string_view> lines(std::string_view s) {
  std::vector<std::string_view> out;
  while (true) {
    auto nl = s.find('\n');
    out.push_back(s.substr(0, nl));
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

// The lock is released only by its holder: compare and delete, atomically.
constexpr std::string_view kUnlockScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
}  // namespace

// magic, meta length (u32), body length (u64), meta, body: a value cut
// short anywhere is refused.
std::string encode_shared_entry(const EntryMeta& meta, std::string_view body) {
  std::string m = encode_meta(meta);
  std::string out(kMagic);
  auto n = static_cast<std::uint32_t>(m.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
  auto b = static_cast<std::uint64_t>(body.size());
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(b >> (8 * i)));
  out += m;
  out.append(body);
  return out;
}

bool decode_shared_entry(std::string_view value, EntryMeta& meta, std::string& body) {
  constexpr std::size_t kHead = 16;
  if (value.size() < kHead || value.substr(0, 4) != kMagic) return false;
  std::uint64_t n = 0, b = 0;
  for (int i = 0; i < 4; ++i) n |= static_cast<std::uint64_t>(static_cast<unsigned char>(value[4 + i])) << (8 * i);
  for (int i = 0; i < 8; ++i) b |= static_cast<std::uint64_t>(static_cast<unsigned char>(value[8 + i])) << (8 * i);
  if (value.size() - kHead < n || value.size() - kHead - n != b) return false;
  auto m = decode_meta(value.substr(kHead, n));
  if (!m) return false;
  meta = std::move(*m);
  body.assign(value.substr(kHead + n));
  meta.body_size = body.size();
  return true;
}

// ---------------------------------------------------------------- FleetLock

FleetLock::FleetLock(SharedTier& tier, RedisClient& client, std::string key)
    : tier_(&tier), client_(&client), key_(std::move(key)) {}

FleetLock::FleetLock(FleetLock&& other) noexcept
    : tier_(std::exchange(other.tier_, nullptr)), client_(other.client_), key_(std::move(other.key_)) {}

FleetLock& FleetLock::operator=(FleetLock&& other) noexcept {
  if (this != &other) {
    release();
    tier_ = std::exchange(other.tier_, nullptr);
    client_ = other.client_;
    key_ = std::move(other.key_);
  }
  return *this;
}

FleetLock::~FleetLock() { release(); }

void FleetLock::fill(const EntryMeta& meta, std::string_view body, long long ttl_ms) {
  if (!tier_) return;
  std::exchange(tier_, nullptr)->fill(*client_, meta, body, ttl_ms);
}

void FleetLock::release() {
  if (!tier_) return;
  // Nothing was stored: wake the fleet's waiters so that they fetch now.
  EntryMeta none;
  none.key = key_;
  fill(none, {}, 0);
}

// ---------------------------------------------------------------- SharedTier

SharedTier::SharedTier(const RedisConfig& config, std::string zone_name, Store& store)
    : zone_(std::move(zone_name)), store_(store), instance_(random_instance()), clients_(kMaxWorkers) {
  reconfigure(config);
}

SharedTier::~SharedTier() = default;

namespace {
bool same_endpoints(const std::vector<Endpoint>& a, const std::vector<Endpoint>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                    [](const Endpoint& x, const Endpoint& y) { return x.host == y.host && x.port == y.port; });
}

bool same_settings(const RedisConfig& a, const RedisConfig& b) {
  auto addr = [](const RedisConfig& c) { return c.address ? c.address->host + ":" + std::to_string(c.address->port) : ""; };
  return addr(a) == addr(b) && a.unix_socket == b.unix_socket && same_endpoints(a.sentinels, b.sentinels) &&
         a.master_name == b.master_name && same_endpoints(a.cluster, b.cluster) && a.timeout == b.timeout &&
         a.connect_timeout == b.connect_timeout && a.lock_timeout == b.lock_timeout &&
         a.max_entry_bytes == b.max_entry_bytes && a.key_prefix == b.key_prefix;
}
}  // namespace

bool SharedTier::reconfigure(const RedisConfig& next) {
  std::lock_guard lock(settings_mu_);
  if (settings_ && same_settings(settings_->config, next)) return false;
  auto s = std::make_shared<Settings>();
  s->config = next;
  if (!next.sentinels.empty()) s->sentinels = std::make_shared<SentinelSource>(next, "redis (zone " + zone_ + ")");
  s->generation = settings_ ? settings_->generation + 1 : 1;
  settings_ = std::move(s);
  return true;
}

std::shared_ptr<const SharedTier::Settings> SharedTier::settings() const {
  std::lock_guard lock(settings_mu_);
  return settings_;
}

RedisConfig SharedTier::config() const { return settings()->config; }

void SharedTier::start(asio::any_io_executor ex) {
  auto s = settings();
  if (subscriber_ && subscriber_settings_ == s) return;
  if (subscriber_) {
    // New settings (a reload): the old subscriber goes, and its Sentinel watch.
    subscriber_->close();
    retired_subscribers_.push_back(std::move(subscriber_));
    if (subscriber_settings_->sentinels) subscriber_settings_->sentinels->stop();
    on_connection(true, false);
  }
  subscriber_settings_ = s;
  if (s->sentinels) s->sentinels->start(ex, [this] {
    if (subscriber_) subscriber_->follow_source();
  });
  subscriber_ = RedisClient::create(ex, s->config, "redis (zone " + zone_ + ")", true,
                                    [this](bool up) { on_connection(true, up); }, s->sentinels);
  subscriber_->subscribe(s->config.key_prefix + "events", [this](std::string_view msg) { on_message(msg); });
}

void SharedTier::release_client(std::size_t w) {
  if (w < clients_.size()) clients_[w] = WorkerClient{};
}

void SharedTier::release_subscriber() {
  if (subscriber_settings_ && subscriber_settings_->sentinels) subscriber_settings_->sentinels->stop();
  subscriber_.reset();
  retired_subscribers_.clear();
  on_connection(true, false);  // nothing will announce fills any more
}

bool SharedTier::up() const {
  std::lock_guard lock(waiters_mu_);
  return subscriber_up_;
}

RedisClient& SharedTier::client(std::size_t w, asio::any_io_executor ex) {
  auto& c = clients_.at(w);
  auto s = settings();
  if (!c.client || c.generation != s->generation) {
    if (c.client) {
      c.client->close();
      c.retired.push_back(std::move(c.client));
    }
    c.client = RedisClient::create(std::move(ex), s->config, "redis (zone " + zone_ + ")", false,
                                   [this](bool up) { on_connection(false, up); }, s->sentinels);
    c.generation = s->generation;
  }
  return *c.client;
}

std::string_view SharedTier::tag_glob(const RedisClient& c) { return c.config().cluster.empty() ? "" : "{*}"; }

std::string SharedTier::key_of(const RedisClient& c, std::string_view kind, std::string_view key) {
  std::string k = c.config().key_prefix;
  k.append(kind);
  if (!c.config().cluster.empty()) k += entry_hash_tag(key);
  k.append(key);
  return k;
}

std::string SharedTier::entry_key(const RedisClient& c, std::string_view key, std::string_view vary_key) {
  std::string k = key_of(c, "e:", key);
  k.push_back('\x1e');
  k.append(vary_key);
  return k;
}

asio::awaitable<std::optional<SharedTier::Found>> SharedTier::lookup(RedisClient& c, const std::string& key,
                                                                     const http::Request& req) {
  std::string vkey = key_of(c, "v:", key);
  std::string ekey = entry_key(c, key, "");
  // One round trip for the common case, a response without Vary.
  auto r = co_await c.command(args("MGET", vkey, ekey));
  if (!r.ok() || r.type != RedisReply::Type::array || r.elements.size() != 2) {
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  const RedisReply* value = &r.elements[1];
  RedisReply second;
  if (r.elements[0].type != RedisReply::Type::string) {
    stats_.misses.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  if (!r.elements[0].str.empty()) {
    VarySpec spec{split_fields(r.elements[0].str), false};
    second = co_await c.command(args("GET", entry_key(c, key, vary_key(spec, req))));
    if (!second.ok()) {
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      co_return std::nullopt;
    }
    value = &second;
  }
  Found f;
  if (value->type != RedisReply::Type::string || !decode_shared_entry(value->str, f.meta, f.body) ||
      f.meta.key != key) {
    stats_.misses.fetch_add(1, std::memory_order_relaxed);
    co_return std::nullopt;
  }
  stats_.hits.fetch_add(1, std::memory_order_relaxed);
  co_return f;
}

void SharedTier::fill(RedisClient& c, const EntryMeta& meta, std::string_view body, long long ttl_ms) {
  const std::string& prefix = c.config().key_prefix;
  if (ttl_ms > 0 && body.size() <= c.config().max_entry_bytes) {
    std::string ekey = entry_key(c, meta.key, meta.vary_key);
    std::string value = encode_shared_entry(meta, body);
    std::string px = std::to_string(ttl_ms);
    c.send({"SET", ekey, value, "PX", px});
    // The Vary spec serves every variant of the key: it lives as long as the
    // longest-lived one (KEEPTTL, then only ever extended).
    std::string vkey = key_of(c, "v:", meta.key);
    c.send({"SET", vkey, join_fields(meta.vary_fields), "KEEPTTL"});
    c.send({"PEXPIRE", vkey, px, "NX"});
    c.send({"PEXPIRE", vkey, px, "GT"});
    for (const auto& t : meta.tags) {
      std::string tkey = prefix + "t:" + t;
      c.send({"SADD", tkey, ekey});
      // A tag's set lives as long as its longest-lived entry.
      c.send({"PEXPIRE", tkey, px, "NX"});
      c.send({"PEXPIRE", tkey, px, "GT"});
    }
    stats_.fills.fetch_add(1, std::memory_order_relaxed);
  }
  c.send({"PUBLISH", prefix + "events", message({"filled", instance_, meta.key})});
  unlock(c, meta.key);
}

asio::awaitable<FleetLock> SharedTier::lock(RedisClient& c, const std::string& key) {
  auto px = std::to_string(std::max<long long>(1, 2 * c.config().lock_timeout.count()));
  auto r = co_await c.command(args("SET", key_of(c, "l:", key), instance_, "NX", "PX", px));
  if (!r.ok()) {
    stats_.errors.fetch_add(1, std::memory_order_relaxed);
    co_return FleetLock(*this, c, key);  // no Redis, no fleet: fetch
  }
  if (r.type != RedisReply::Type::status) co_return FleetLock();  // nil: another gateway holds it
  co_return FleetLock(*this, c, key);                              // "OK"
}

void SharedTier::unlock(RedisClient& c, const std::string& key) {
  c.send({"EVAL", kUnlockScript, "1", key_of(c, "l:", key), instance_});
}

asio::awaitable<bool> SharedTier::wait_filled(const std::string& key, std::chrono::milliseconds timeout) {
  stats_.lock_waits.fetch_add(1, std::memory_order_relaxed);
  auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex, timeout);
  auto woken = std::make_shared<bool>(false);
  auto filled = std::make_shared<bool>(false);
  decltype(waiters_)::iterator it;
  {
    std::lock_guard lock(waiters_mu_);
    if (!subscriber_up_) {
      // No "filled" message can reach us: fetch now.
      stats_.lock_waits_cut.fetch_add(1, std::memory_order_relaxed);
      co_return false;
    }
    it = waiters_.emplace(key, [timer, woken, filled, ex](bool was_filled) {
      asio::post(ex, [timer, woken, filled, was_filled] {
        *woken = true;
        *filled = was_filled;
        timer->cancel();
      });
    });
  }
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  if (!*woken) {
    // Timed out: withdraw, unless on_message already took us.
    std::lock_guard lock(waiters_mu_);
    for (auto [b, e] = waiters_.equal_range(key); b != e; ++b)
      if (b == it) {
        waiters_.erase(b);
        break;
      }
  }
  co_return *filled;
}

void SharedTier::on_connection(bool subscriber, bool up) {
  std::vector<std::function<void(bool)>> wake;
  {
    std::lock_guard lock(waiters_mu_);
    if (subscriber) subscriber_up_ = up;
    if (up) return;
    // Lost: the announcement a waiter expects may never come.
    for (auto& [key, w] : waiters_) wake.push_back(std::move(w));
    waiters_.clear();
  }
  stats_.lock_waits_cut.fetch_add(wake.size(), std::memory_order_relaxed);
  for (auto& w : wake) w(false);
}

void SharedTier::on_message(std::string_view msg) {
  auto parts = lines(msg);
  if (parts.size() < 3) return;
  auto kind = parts[0];
  bool own = parts[1] == instance_;
  if (kind == "filled") {
    std::vector<std::function<void(bool)>> wake;
    {
      std::lock_guard lock(waiters_mu_);
      auto [b, e] = waiters_.equal_range(std::string(parts[2]));
      for (auto i = b; i != e; ++i) wake.push_back(std::move(i->second));
      waiters_.erase(b, e);
    }
    for (auto& w : wake) w(true);
    return;
  }
  if (own) return;  // our own purge was applied locally already
  stats_.purges_received.fetch_add(1, std::memory_order_relaxed);
  if (kind == "purge-target" && parts.size() == 4) store_.purge_prefix(parts[2], parts[3], true);
  else if (kind == "purge-prefix" && parts.size() == 4) store_.purge_prefix(parts[2], parts[3]);
  else if (kind == "purge-tag") store_.purge_tag(parts[2]);
}

asio::awaitable<std::size_t> SharedTier::delete_matching(RedisClient& c, std::string pattern) {
  std::size_t deleted = 0;
  // SCAN sees one server's keys: each master of a cluster in turn.
  std::size_t servers = co_await c.servers();
  for (std::size_t i = 0; i < servers; ++i) {
    std::string cursor = "0";
    do {
      auto r = co_await c.command_on(i, args("SCAN", cursor, "MATCH", pattern, "COUNT", "1000"));
      if (!r.ok() || r.type != RedisReply::Type::array || r.elements.size() != 2) {
        stats_.errors.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      cursor = r.elements[0].str;
      std::vector<std::string_view> del = {"UNLINK"};
      for (const auto& k : r.elements[1].elements) del.push_back(k.str);
      if (del.size() > 1) {
        auto d = co_await c.command(del);
        if (d.type == RedisReply::Type::integer) deleted += static_cast<std::size_t>(d.integer);
      }
    } while (cursor != "0");
  }
  co_return deleted;
}

asio::awaitable<std::size_t> SharedTier::purge_target(RedisClient& c, std::string host, std::string target) {
  stats_.purges_sent.fetch_add(1, std::memory_order_relaxed);
  // The URL's entries: its key exactly (then \x1e and the Vary key), or
  // followed by extra key parts (\x1f).
  std::string base = "GET\x1f" + (host.empty() ? std::string("*") : glob_escape(host)) + "\x1f" + glob_escape(target);
  std::string e = c.config().key_prefix + "e:" + std::string(tag_glob(c)) + base;
  std::string v = c.config().key_prefix + "v:" + std::string(tag_glob(c)) + base;
  std::size_t n = co_await delete_matching(c, e + "\x1e*");
  n += co_await delete_matching(c, e + "\x1f*");
  co_await delete_matching(c, v);
  co_await delete_matching(c, v + "\x1f*");
  // Announced after Redis let go of them: no gateway refills from there.
  c.send({"PUBLISH", c.config().key_prefix + "events", message({"purge-target", instance_, host, target})});
  co_return n;
}

asio::awaitable<std::size_t> SharedTier::purge_prefix(RedisClient& c, std::string host, std::string path) {
  stats_.purges_sent.fetch_add(1, std::memory_order_relaxed);
  std::string rest = "GET\x1f" + (host.empty() ? std::string("*") : glob_escape(host)) + "\x1f" + glob_escape(path) + "*";
  std::string tag(tag_glob(c));
  std::size_t n = co_await delete_matching(c, c.config().key_prefix + "e:" + tag + rest);
  co_await delete_matching(c, c.config().key_prefix + "v:" + tag + rest);
  c.send({"PUBLISH", c.config().key_prefix + "events", message({"purge-prefix", instance_, host, path})});
  co_return n;
}

asio::awaitable<std::size_t> SharedTier::purge_tag(RedisClient& c, std::string tag) {
  stats_.purges_sent.fetch_add(1, std::memory_order_relaxed);
  std::string tkey = c.config().key_prefix + "t:" + tag;
  auto r = co_await c.command(args("SMEMBERS", tkey));
  std::size_t n = 0;
  if (r.type == RedisReply::Type::array) {
    std::vector<std::string_view> del = {"UNLINK", tkey};
    for (const auto& k : r.elements) del.push_back(k.str);
    auto d = co_await c.command(del);
    if (d.type == RedisReply::Type::integer && d.integer > 0) n = static_cast<std::size_t>(d.integer - 1);
  }
  c.send({"PUBLISH", c.config().key_prefix + "events", message({"purge-tag", instance_, tag})});
  co_return n;
}

void reload_shared_tier(SharedTier* tier, const ZoneConfig& next) {
  if (!tier && !next.redis) return;
  if (!tier || !next.redis) {
    log::warn("cache " + next.name + ": adding or removing redis: takes effect at the next restart");
    return;
  }
  if (tier->reconfigure(*next.redis))
    log::info("cache " + next.name + ": new redis: settings; the shared tier reconnects with them");
}

}  // namespace gateway::cache
