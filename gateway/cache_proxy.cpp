#include "gateway/cache_proxy.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <ctime>

#include "cache/policy.hpp"
#include "cache/shared_tier.hpp"
#include "base/http/serializer.hpp"
#include "base/log.hpp"
#include "gateway/proxy.hpp"
#include "gateway/worker.hpp"

namespace gateway::cache_proxy {

namespace asio = boost::asio;
using cache::Seconds;
using upstreams::Outcome;

namespace {

constexpr std::size_t kFollowChunk = 64 * 1024;

Seconds now_seconds() { return static_cast<Seconds>(std::time(nullptr)); }

void append_number(std::string& out, long long v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, end);
}

// Fields this response carries on top of the stored ones: Age, X-Cache and
// Cache-Status (RFC 9211), whose text is `detail`, or for responses served
// from the cache "hit; ttl=N" with a detail for stale ones.
std::string cache_fields(CacheStatus status, std::string_view detail, std::optional<Seconds> age,
                         std::optional<Seconds> ttl = std::nullopt) {
  std::string f;
  f.reserve(96);
  if (age) {
    f.append("Age: ");
    append_number(f, *age);
    f.append(http::kCrlf);
  }
  f.append("X-Cache: ").append(kCacheStatusNames[static_cast<int>(status)]).append(http::kCrlf);
  f.append("Cache-Status: gateway; ");
  if (ttl) {
    f.append("hit; ttl=");
    append_number(f, *ttl);
    if (!detail.empty()) f.append("; detail=").append(detail);
  } else {
    f.append(detail);
  }
  f.append(http::kCrlf);
  return f;
}

// The head a stored response keeps: status line and end-to-end fields,
// without what must not be stored (Set-Cookie...) or is per response.
std::string stored_head(const http::Response& resp) {
  http::Response copy;
  copy.status = resp.status;
  copy.reason = resp.reason;
  resp.headers.for_each([&](const http::HeaderMap::Field& f) { copy.headers.add(f.name, f.value); });
  cache::remove_unstorable_fields(copy.headers);
  for (auto name : {"Age", "X-Cache", "Cache-Status", "Content-Length", "Transfer-Encoding", "Connection"})
    copy.headers.remove(name);
  if (!copy.headers.contains("Date")) copy.headers.add("Date", http::format_http_date(std::time(nullptr)));
  std::string out;
  http::serialize_response_head(copy, out);
  out.resize(out.size() - 2);  // without the blank line
  return out;
}

// A Downstream with nobody behind it: a background refresh fills the cache
// through the normal path and its "response" goes nowhere.
class NullDownstream final : public Downstream {
 public:
  NullDownstream(http::Request req, std::string peer) : req_(std::move(req)), peer_(std::move(peer)) {}
  const http::Request& request() const override { return req_; }
  std::string_view peer() const override { return peer_; }
  RequestInfo& info() override { return info_; }
  asio::awaitable<boost::system::error_code> read_body(std::span<const char>& piece, bool& done) override {
    piece = {};
    done = true;
    co_return boost::system::error_code{};
  }
  bool body_complete() const override { return true; }
  int body_error_status() const override { return 0; }
  void write_head(http::Response& resp) override { status_ = resp.status; }
  void write_head_raw(int status, std::string_view, std::string_view, std::uint64_t) override { status_ = status; }
  asio::awaitable<boost::system::error_code> write_file(int, std::uint64_t, std::uint64_t, bool) override {
    co_return boost::system::error_code{};
  }
  asio::awaitable<boost::system::error_code> write_body(std::span<const char>, bool) override {
    co_return boost::system::error_code{};
  }
  bool head_written() const override { return status_ != 0; }
  int status() const override { return status_; }
  void abort() override {}

 private:
  http::Request req_;
  std::string peer_;
  RequestInfo info_;
  int status_ = 0;
};

// Waits until `fill` changes after `version`, or `timeout`; false on timeout.
asio::awaitable<bool> wait_for_change(cache::Fill& fill, std::uint64_t version, Clock::duration timeout) {
  auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex, timeout);
  // The wake-up may come from another worker's thread: it only posts to
  // ours, and the timer (shared) outlives a late call.
  fill.on_change(version, [timer, ex] { asio::post(ex, [timer] { timer->cancel(); }); });
  auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  co_return ec == asio::error::operation_aborted;
}

class CachedExchange {
 public:
  CachedExchange(Downstream& down, const RouteConfig& route, std::shared_ptr<WorkerState> state, Worker& worker)
      : down_(down),
        req_(down.request()),
        route_(route),
        rule_(*route.cache),
        state_(std::move(state)),
        zone_(*state_->runtime->zones[rule_.zone_index]),
        zone_stats_(*state_->zone_stats[rule_.zone_index]),
        worker_(worker) {}

  asio::awaitable<void> run();
  static asio::awaitable<void> run_refresh(std::shared_ptr<NullDownstream> down, std::shared_ptr<WorkerState> state,
                                           Worker& worker, const RouteConfig& route,
                                           std::shared_ptr<const cache::Entry> e, std::shared_ptr<cache::Fill> fill,
                                           std::string key);
  // A background refresh of `stale`, leading `fill`.
  asio::awaitable<void> refresh(std::shared_ptr<const cache::Entry> stale, std::shared_ptr<cache::Fill> fill,
                                std::string key);

 private:
  asio::awaitable<void> pass_through(bool invalidate);
  asio::awaitable<void> with_entry(std::shared_ptr<const cache::Entry> e);
  asio::awaitable<void> miss();
  asio::awaitable<void> follow(std::shared_ptr<cache::Fill> fill);
  // Fetches from upstream and stores what may be stored, leading `fill`
  // (may be null). `stale`: the entry being revalidated, if any.
  asio::awaitable<void> fetch_and_store(std::shared_ptr<const cache::Entry> stale, std::shared_ptr<cache::Fill> fill);
  asio::awaitable<bool> serve_entry(const std::shared_ptr<const cache::Entry>& e, CacheStatus status,
                                    std::string_view cache_status);
  void start_background_refresh(std::shared_ptr<const cache::Entry> e, std::shared_ptr<cache::Fill> fill);
  void count(CacheStatus s);
  static bool shared_with_authorized(const cache::EntryMeta& m);
  asio::awaitable<bool> from_shared_tier(cache::RedisClient& rc, std::shared_ptr<cache::Fill> fill);
  void share(const cache::Entry& e);
  const http::Request& upstream_request();

  Downstream& down_;
  const http::Request& req_;
  const RouteConfig& route_;
  const cache::RuleConfig& rule_;
  std::shared_ptr<WorkerState> state_;
  CacheZone& zone_;
  ZoneStats& zone_stats_;
  Worker& worker_;
  std::string key_;
  Seconds now_ = 0;
  std::optional<http::Request> upstream_req_;
  bool fleet_lock_ = false;  // this gateway holds the fleet's fill lock for key_
  bool shared_hit_ = false;  // served from the shared tier
};

void CachedExchange::count(CacheStatus s) {
  zone_stats_.cache[static_cast<int>(s)].inc();
  down_.info().cache = kCacheStatusNames[static_cast<int>(s)];
}

// The request as sent upstream for a fill: a GET (a HEAD fills the GET
// entry, as nginx's proxy_cache_convert_head), without the client's own
// conditions and ranges, which would get an answer only for this client.
bool CachedExchange::shared_with_authorized(const cache::EntryMeta& m) {
  http::Response stored;
  if (!http::parse_response_head(m.head, stored)) return false;
  auto d = cache::parse_response_directives(stored.headers);
  return d.public_ || d.s_maxage.has_value() || d.must_revalidate;
}

const http::Request& CachedExchange::upstream_request() {
  static constexpr std::string_view kClientOnly[] = {"If-None-Match", "If-Modified-Since", "If-Match",
                                                     "If-Unmodified-Since", "If-Range", "Range"};
  bool copy = req_.is_head();
  for (auto name : kClientOnly) copy = copy || req_.headers.contains(name);
  if (!copy) return req_;
  if (!upstream_req_) {
    upstream_req_.emplace();
    auto& u = *upstream_req_;
    u.method = "GET";
    u.target = req_.target;
    u.version_minor = req_.version_minor;
    req_.headers.for_each([&](const http::HeaderMap::Field& f) {
      for (auto name : kClientOnly)
        if (http::iequals(f.name, name)) return;
      u.headers.add(f.name, f.value);
    });
  }
  return *upstream_req_;
}

asio::awaitable<void> CachedExchange::run() {
  if (!cache::cacheable_method(req_.method)) {
    co_await pass_through(true);
    co_return;
  }
  if (cache::bypassed(req_, rule_)) {
    co_await pass_through(false);
    co_return;
  }
  key_ = cache::cache_key(req_, rule_);
  now_ = now_seconds();
  auto e = zone_.store.lookup(key_, req_, now_);
  if (e && req_.headers.contains("Authorization") && !shared_with_authorized(e->meta)) {
    // A request with credentials gets a stored response only if that
    // response says it may be shared so (public, s-maxage,
    // must-revalidate); otherwise it asks the upstream itself.
    co_await fetch_and_store(nullptr, nullptr);
    co_return;
  }
  if (e) co_await with_entry(std::move(e));
  else co_await miss();
}

asio::awaitable<void> CachedExchange::pass_through(bool invalidate) {
  count(CacheStatus::bypass);
  std::vector<std::string> targets;
  proxy::PassOptions options;
  const auto fields = cache_fields(CacheStatus::bypass, invalidate ? "fwd=method" : "fwd=bypass", std::nullopt);
  options.extra_fields = fields;
  if (invalidate) {
    options.on_response = [&](const http::Response& resp) {
      if (cache::invalidates(req_.method, resp.status)) targets = cache::invalidated_targets(req_, resp);
    };
  }
  co_await proxy::serve(down_, route_, *state_, worker_, options);
  // RFC 9111 4.4: a successful unsafe request invalidates what the cache
  // holds for its target (and Location / Content-Location).
  auto host = req_.headers.get("Host").value_or("");
  for (const auto& t : targets) zone_.store.purge_url(cache::url_key(host, t, rule_));
}

asio::awaitable<bool> CachedExchange::serve_entry(const std::shared_ptr<const cache::Entry>& e, CacheStatus status,
                                                  std::string_view cache_status) {
  const auto& m = e->meta;
  Seconds age = m.age(now_);
  const bool from_cache = status == CacheStatus::hit || status == CacheStatus::stale || status == CacheStatus::updating;
  std::string_view detail = status == CacheStatus::stale      ? "stale"
                            : status == CacheStatus::updating ? "updating"
                            : shared_hit_                      ? "shared-tier"
                            : from_cache                       ? ""
                                                               : cache_status;
  auto fields = cache_fields(status, detail, age, from_cache ? std::optional(m.freshness.lifetime - age) : std::nullopt);

  if (m.status / 100 == 2 && cache::client_not_modified(req_, m.validators)) {
    // The client's copy is current: 304 with the validator and caching
    // fields only (RFC 9110 15.4.5).
    http::Response stored;
    if (!http::parse_response_head(m.head, stored)) co_return false;
    std::string head = "HTTP/1.1 304 Not Modified\r\n";
    for (auto name : {"Cache-Control", "Content-Location", "Date", "ETag", "Expires", "Last-Modified", "Vary"})
      if (auto v = stored.headers.get(name)) head.append(name).append(": ").append(*v).append(http::kCrlf);
    count(status);
    down_.write_head_raw(304, head, fields, 0);
    co_await down_.finish();
    co_return true;
  }

  std::shared_ptr<cache::FileRef> file;
  if (!e->body && m.body_size > 0 && !req_.is_head()) {
    file = zone_.store.open(*e);
    if (!file) {
      // The file went away (purged or evicted a moment ago): not served.
      zone_.store.remove(e);
      co_return false;
    }
  }
  count(status);
  down_.write_head_raw(m.status, m.head, fields, m.body_size);
  if (e->body) co_await down_.write_body(*e->body, true);
  else if (file) co_await down_.write_file(file->fd, e->body_offset, m.body_size, true);
  else co_await down_.finish();
  co_return true;
}

asio::awaitable<void> CachedExchange::with_entry(std::shared_ptr<const cache::Entry> e) {
  const auto& m = e->meta;
  Seconds age = m.age(now_);
  cache::RequestDirectives directives;
  if (rule_.honor_client_no_cache) directives = cache::parse_request_directives(req_.headers);
  switch (cache::usability(m.freshness, age, directives, rule_.honor_client_no_cache)) {
    case cache::Usability::fresh:
      if (co_await serve_entry(e, CacheStatus::hit, "")) co_return;
      break;
    case cache::Usability::stale_while_revalidate: {
      // Serve it stale; the first such request starts one refresh.
      auto joined = zone_.fills.join(key_, 0, now_);
      if (joined.leader) start_background_refresh(e, joined.fill);
      if (co_await serve_entry(e, joined.leader ? CacheStatus::stale : CacheStatus::updating, "")) co_return;
      break;
    }
    case cache::Usability::stale_revalidate:
      if (rule_.use_stale.has(cache::StaleIf::updating) && zone_.fills.in_flight(key_)) {
        if (co_await serve_entry(e, CacheStatus::updating, "")) co_return;
        break;
      }
      {
        auto joined = zone_.fills.join(key_, rule_.lock_max_waiters, now_);
        if (joined.fill && !joined.leader) {
          co_await follow(joined.fill);
          co_return;
        }
        co_await fetch_and_store(e, joined.fill);
        co_return;
      }
  }
  co_await miss();  // the entry could not be served after all
}

asio::awaitable<void> CachedExchange::miss() {
  auto joined = zone_.fills.join(key_, rule_.lock_max_waiters, now_);
  if (joined.fill && !joined.leader) {
    co_await follow(joined.fill);
    co_return;
  }
  if (zone_.tier) {
    // The fleet's shared tier, before the upstream: one gateway per key
    // fetches (it holds the lock), the others wait for its fill.
    auto& tier = *zone_.tier;
    auto& rc = tier.client(static_cast<std::size_t>(worker_.id()), co_await asio::this_coro::executor);
    if (co_await from_shared_tier(rc, joined.fill)) co_return;
    fleet_lock_ = co_await tier.lock(rc, key_);
    if (!fleet_lock_ && co_await tier.wait_filled(key_, tier.config().lock_timeout) &&
        co_await from_shared_tier(rc, joined.fill))
      co_return;
  }
  co_await fetch_and_store(nullptr, joined.fill);
}

// A hit in the shared tier: stored locally, then served like a local hit.
asio::awaitable<bool> CachedExchange::from_shared_tier(cache::RedisClient& rc, std::shared_ptr<cache::Fill> fill) {
  auto found = co_await zone_.tier->lookup(rc, key_, req_);
  if (!found) co_return false;
  now_ = now_seconds();
  // The same rules as for a local entry: the client's own no-cache when the
  // route honours it, and credentials only for what may be shared so.
  cache::RequestDirectives directives;
  if (rule_.honor_client_no_cache) directives = cache::parse_request_directives(req_.headers);
  if (cache::usability(found->meta.freshness, found->meta.age(now_), directives, rule_.honor_client_no_cache) !=
      cache::Usability::fresh)
    co_return false;
  if (req_.headers.contains("Authorization") && !shared_with_authorized(found->meta)) co_return false;
  std::shared_ptr<const cache::Entry> entry;
  if (auto w = zone_.store.begin(found->meta); w && w->write(found->body)) {
    if (fill) fill->stream(std::make_shared<const cache::EntryMeta>(found->meta), w->reader(), w->body_offset(),
                           found->body.size());
    entry = w->commit(found->body.size());
  }
  if (!entry) {
    // Not stored locally (disk trouble): serve it from memory all the same.
    auto e = std::make_shared<cache::Entry>();
    e->meta = found->meta;
    e->body = std::make_shared<const std::string>(std::move(found->body));
    entry = std::move(e);
  }
  if (fill) {
    fill->progress(entry->meta.body_size);
    fill->complete(entry);
    zone_.fills.finish(key_, fill, false, now_);
  }
  shared_hit_ = true;
  co_return co_await serve_entry(entry, CacheStatus::hit, "");
}

// A committed entry goes to the shared tier too, with its remaining
// freshness as expiry; the fleet lock is released with the announcement.
void CachedExchange::share(const cache::Entry& e) {
  if (!zone_.tier) return;
  auto& tier = *zone_.tier;
  auto& rc = tier.client(static_cast<std::size_t>(worker_.id()), worker_.io().get_executor());
  const auto& m = e.meta;
  long long ttl_ms = (m.freshness.lifetime - m.age(now_seconds())) * 1000;
  std::string body;
  if (m.body_size <= tier.config().max_entry_bytes && ttl_ms > 0) {
    if (e.body) {
      body = *e.body;
    } else if (auto f = zone_.store.open(e)) {
      body.resize(static_cast<std::size_t>(m.body_size));
      if (::pread(f->fd, body.data(), body.size(), static_cast<off_t>(e.body_offset)) !=
          static_cast<ssize_t>(body.size()))
        ttl_ms = 0;
    }
  } else {
    ttl_ms = 0;  // too big or not fresh: only announce and unlock
  }
  tier.fill(rc, m, body, ttl_ms);
  fleet_lock_ = false;
}

void CachedExchange::start_background_refresh(std::shared_ptr<const cache::Entry> e, std::shared_ptr<cache::Fill> fill) {
  zone_stats_.background_updates.inc();
  // The refresh outlives this request: it owns copies of what it needs and
  // keeps the configuration it started with alive.
  http::Request copy;
  copy.method = "GET";
  copy.target = req_.target;
  req_.headers.for_each([&](const http::HeaderMap::Field& f) { copy.headers.add(f.name, f.value); });
  auto down = std::make_shared<NullDownstream>(std::move(copy), std::string(down_.peer()));
  asio::co_spawn(worker_.io(), run_refresh(std::move(down), state_, worker_, route_, std::move(e), std::move(fill), key_),
                 log::on_exception("background refresh"));
}

// Parameters by value: the coroutine outlives the request that started it.
asio::awaitable<void> CachedExchange::run_refresh(std::shared_ptr<NullDownstream> down,
                                                  std::shared_ptr<WorkerState> state, Worker& worker,
                                                  const RouteConfig& route, std::shared_ptr<const cache::Entry> e,
                                                  std::shared_ptr<cache::Fill> fill, std::string key) {
  CachedExchange ex(*down, route, std::move(state), worker);
  co_await ex.refresh(std::move(e), std::move(fill), std::move(key));
}

asio::awaitable<void> CachedExchange::refresh(std::shared_ptr<const cache::Entry> stale, std::shared_ptr<cache::Fill> fill,
                                              std::string key) {
  key_ = std::move(key);
  now_ = now_seconds();
  co_await fetch_and_store(std::move(stale), std::move(fill));
}

asio::awaitable<void> CachedExchange::fetch_and_store(std::shared_ptr<const cache::Entry> stale,
                                                      std::shared_ptr<cache::Fill> fill) {
  bool pass = false;  // the response was not storable: let the next ones go upstream in parallel
  struct Finish {
    CachedExchange& self;
    std::shared_ptr<cache::Fill>& fill;
    bool& pass;
    ~Finish() {
      if (self.fleet_lock_ && self.zone_.tier) {
        // Nothing was shared: wake the fleet's waiters so they fetch now.
        auto& tier = *self.zone_.tier;
        auto& rc = tier.client(static_cast<std::size_t>(self.worker_.id()), self.worker_.io().get_executor());
        cache::EntryMeta none;
        none.key = self.key_;
        tier.fill(rc, none, {}, 0);
        self.fleet_lock_ = false;
      }
      if (!fill) return;
      auto view = fill->view();
      // Never leave followers waiting: whatever happened, they are told.
      if (view.state == cache::Fill::State::pending) fill->release();
      else if (view.state == cache::Fill::State::streaming) fill->fail();
      self.zone_.fills.finish(self.key_, fill, pass, self.now_);
    }
  } finish{*this, fill, pass};

  const auto& ureq = upstream_request();
  proxy::Fetch fetch(ureq, down_.peer(), nullptr, route_, *state_, worker_, down_.info());
  cache::Validators validators;
  if (stale) {
    validators = stale->meta.validators;
    if (validators.etag) fetch.add_header("If-None-Match", *validators.etag);
    if (validators.last_modified) fetch.add_header("If-Modified-Since", http::format_http_date(*validators.last_modified));
  }
  const Seconds request_time = now_seconds();
  auto o = co_await fetch.start();
  const Seconds response_time = now_seconds();
  now_ = response_time;

  auto serve_stale = [&](cache::StaleIf failure) {
    return stale && cache::may_serve_stale_on_error(stale->meta.freshness, stale->meta.age(now_), rule_, failure);
  };
  if (o != Outcome::ok) {
    co_await fetch.finish();
    int status = fetch.failure_status();
    if (serve_stale(status == 504 ? cache::StaleIf::timeout : cache::StaleIf::error) && co_await serve_entry(stale, CacheStatus::stale, "")) {
      co_return;
    }
    state_->upstream_stats[route_.upstream_index]->errors.inc();
    co_await proxy::respond_failure(down_, route_, status, status == 503 ? "no healthy instance" : upstreams::to_string(o));
    co_return;
  }

  auto& resp = fetch.response();
  if (stale && resp.status == 304) {
    // Still valid: refresh the stored headers and times (RFC 9111 4.3.4).
    std::span<const char> piece;
    bool done = false;
    co_await fetch.read_body(piece, done);
    co_await fetch.finish();
    http::Response merged;
    auto meta = stale->meta;
    if (http::parse_response_head(meta.head, merged)) {
      cache::merge_not_modified(merged.headers, resp.headers);
      meta.head = stored_head(merged);
      meta.request_time = request_time;
      meta.response_time = response_time;
      meta.initial_age = cache::corrected_initial_age(merged.headers, request_time, response_time);
      meta.freshness = cache::freshness(merged, rule_, response_time);
      auto v = cache::validators_of(merged.headers);
      if (v.etag || v.last_modified) meta.validators = v;
      auto refreshed = zone_.store.refresh(stale, std::move(meta));
      if (fill) fill->complete(refreshed);
      if (co_await serve_entry(refreshed, CacheStatus::revalidated, "fwd=stale; fwd-status=304")) co_return;
    }
    // The stored copy went away meanwhile (purged, or its file rewritten):
    // fetch the whole response instead.
    co_await fetch_and_store(nullptr, nullptr);
    co_return;
  }
  if (auto failure = cache::stale_condition(resp.status); failure && serve_stale(*failure)) {
    co_await fetch.finish();
    if (co_await serve_entry(stale, CacheStatus::stale, "")) co_return;
  }

  // A new response: relay it, and store it if it may be stored.
  proxy::rewrite_response_head(resp);
  auto decision = cache::can_store(ureq, resp, rule_);
  std::unique_ptr<cache::EntryWriter> writer;
  if (decision.store) {
    cache::EntryMeta meta;
    meta.key = key_;
    auto vary = cache::parse_vary(resp.headers);
    meta.vary_fields = vary.fields;
    meta.vary_key = cache::vary_key(vary, req_);
    meta.status = resp.status;
    meta.request_time = request_time;
    meta.response_time = response_time;
    meta.initial_age = cache::corrected_initial_age(resp.headers, request_time, response_time);
    meta.freshness = cache::freshness(resp, rule_, response_time);
    meta.validators = cache::validators_of(resp.headers);
    if (auto tags = resp.headers.get_all(zone_.config.tags_header); !tags.empty()) meta.tags = cache::parse_tags(tags);
    meta.head = stored_head(resp);
    auto shared_meta = std::make_shared<const cache::EntryMeta>(meta);
    writer = zone_.store.begin(std::move(meta));
    if (writer && fill) fill->stream(shared_meta, writer->reader(), writer->body_offset(), resp.content_length);
  } else {
    pass = true;
  }
  if (fill && !writer) fill->release();  // followers go upstream at once

  const CacheStatus status = stale ? CacheStatus::expired : CacheStatus::miss;
  std::string detail = stale ? "fwd=stale; fwd-status=" + std::to_string(resp.status) : "fwd=uri-miss";
  detail += writer ? "; stored" : "; detail=" + std::string(decision.store ? "write-failed" : decision.reason);
  count(status);
  proxy::add_fields(resp.headers, cache_fields(status, detail, std::nullopt));
  down_.write_head(resp);

  bool client_ok = true;
  for (;;) {
    std::span<const char> piece;
    bool done = false;
    if (co_await fetch.read_body(piece, done) != Outcome::ok) {
      if (client_ok) down_.abort();
      break;
    }
    if (writer && !writer->write(std::string_view(piece.data(), piece.size()))) {
      writer.reset();  // disk trouble: the client is still served
      if (fill) fill->fail();
    }
    if (writer && fill) fill->progress(writer->written());
    if (done && writer) {
      // Committed before the client gets its last byte: whoever asks next
      // finds the entry.
      auto entry = writer->commit(resp.content_length);
      writer.reset();
      if (fill) {
        if (entry) fill->complete(entry);
        else fill->fail();
      }
      if (entry) share(*entry);
    }
    if (client_ok && co_await down_.write_body(piece, done)) client_ok = false;
    if (done) break;
    // Without a client the fill goes on only for the followers and the cache.
    if (!client_ok && !writer) break;
  }
  co_await fetch.finish();
}

asio::awaitable<void> CachedExchange::follow(std::shared_ptr<cache::Fill> fill) {
  zone_stats_.coalesced.inc();
  struct Leave {
    CacheZone& zone;
    cache::Fill& fill;
    ~Leave() { zone.fills.leave(fill); }
  } leave{zone_, *fill};

  const auto& timeouts = state_->runtime->config->timeouts;
  auto view = fill->view();
  // Until the head arrives: at most lock_timeout, then on our own.
  auto lock_deadline = Clock::now() + rule_.lock_timeout;
  while (view.state == cache::Fill::State::pending) {
    auto left = lock_deadline - Clock::now();
    if (left <= Clock::duration::zero() || !co_await wait_for_change(*fill, view.version, left)) break;
    view = fill->view();
  }
  using State = cache::Fill::State;
  bool usable = (view.state == State::streaming || view.state == State::complete) && view.meta &&
                (view.meta->vary_fields.empty() ||
                 cache::vary_key(cache::VarySpec{view.meta->vary_fields, false}, req_) == view.meta->vary_key);
  if (!usable) {
    // Released, failed, timed out, or stored for another Vary variant.
    co_await fetch_and_store(nullptr, nullptr);
    co_return;
  }

  http::Response resp;
  if (!http::parse_response_head(view.meta->head, resp)) {
    co_await fetch_and_store(nullptr, nullptr);
    co_return;
  }
  resp.content_length = view.content_length;
  if (view.state == State::complete) resp.content_length = view.body_bytes;
  count(CacheStatus::miss);
  proxy::add_fields(resp.headers, cache_fields(CacheStatus::miss, "fwd=uri-miss; collapsed", std::nullopt));
  down_.write_head(resp);

  // Stream from the entry's file as the leader writes it.
  std::string buf;
  std::uint64_t sent = 0;
  for (;;) {
    if (sent < view.body_bytes) {
      buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kFollowChunk, view.body_bytes - sent)));
      ssize_t n = ::pread(view.file->fd, buf.data(), buf.size(), static_cast<off_t>(view.body_offset + sent));
      if (n <= 0) {
        down_.abort();
        co_return;
      }
      sent += static_cast<std::uint64_t>(n);
      bool last = view.state == State::complete && sent == view.body_bytes;
      if (co_await down_.write_body(std::span<const char>(buf.data(), static_cast<std::size_t>(n)), last)) co_return;
      if (last) co_return;
      view = fill->view();
      continue;
    }
    if (view.state == State::complete) {
      co_await down_.finish();
      co_return;
    }
    if (view.state != State::streaming) {
      down_.abort();  // the leader lost its upstream mid-body
      co_return;
    }
    if (!co_await wait_for_change(*fill, view.version, timeouts.upstream_read)) {
      down_.abort();
      co_return;
    }
    view = fill->view();
  }
}

}  // namespace

std::shared_ptr<const cache::Entry> fresh_memory_hit(const http::Request& req, const Router::Match& match,
                                                     WorkerState& state) {
  const auto& route = *match.route;
  if (route.kind != RouteConfig::Kind::proxy || !route.cache || req.method != "GET") return nullptr;
  const auto& rule = *route.cache;
  if (cache::bypassed(req, rule) || req.headers.contains("Authorization")) return nullptr;
  auto& zone = *state.runtime->zones[rule.zone_index];
  Seconds now = now_seconds();
  auto e = zone.store.lookup(cache::cache_key(req, rule), req, now);
  if (!e || !e->body) return nullptr;
  cache::RequestDirectives none;
  if (cache::usability(e->meta.freshness, e->meta.age(now), none, false) != cache::Usability::fresh) return nullptr;
  constexpr auto hit = static_cast<std::size_t>(CacheStatus::hit);
  state.zone_stats[rule.zone_index]->cache[hit].inc();
  auto& stats = *state.route_stats[match.index];
  stats.cache[hit].inc();
  if (e->meta.status >= 100 && e->meta.status < 600) stats.by_class[e->meta.status / 100 - 1].inc();
  return e;
}

asio::awaitable<void> serve(Downstream& down, const Router::Match& match, WorkerState& state, Worker& worker) {
  CachedExchange ex(down, *match.route, state.shared_from_this(), worker);
  co_await ex.run();
}

}  // namespace gateway::cache_proxy
