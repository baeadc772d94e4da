// The glue between a client exchange (Downstream) and the cache: it asks the
// zone's tiers in their order (cache::TieredLookup), takes the decisions of
// cache/policy.hpp (usability, storability, the requests it sends, the
// fields it adds), and does the I/O they call for: serving a stored entry,
// relaying the upstream's response while storing it, streaming a fill to
// its followers, a background refresh. It decides nothing itself. Range
// answers are written by cache_ranges.hpp.
//
// Runs on the worker of the client connection; a background refresh runs
// on the same worker, after the request that started it.
#include "gateway/cache_proxy.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "base/http/serializer.hpp"
#include "base/log.hpp"
#include "cache/clock.hpp"
#include "cache/policy.hpp"
#include "cache/tiered_lookup.hpp"
#include "cache/trace.hpp"
#include "gateway/cache_ranges.hpp"
#include "gateway/compress.hpp"
#include "gateway/compress_variant.hpp"
#include "gateway/proxy.hpp"
#include "gateway/worker.hpp"

namespace gateway::cache_proxy {

namespace asio = boost::asio;
using cache::Seconds;
using upstreams::Outcome;

namespace {

// What an entry's Cache-Status and Age say about it at `now`; serve_entry
// and the RAM-tier fast path add what is theirs.
cache::CacheStatusFacts entry_facts(const cache::EntryMeta& m, Seconds now) {
  cache::CacheStatusFacts facts;
  facts.age = m.age(now);
  facts.ttl = m.freshness.lifetime - *facts.age;
  facts.heuristic = m.freshness.heuristic;
  return facts;
}

constexpr std::size_t kFollowChunk = 64 * 1024;

// The compressed variant of `e` to serve instead of it to a client that
// accepts a coding (compressing: the exchange's compressing Downstream, or
// null); null: serve `e` (compressed as it streams, if it qualifies). A
// HEAD gets the variant's head when there is one, as a GET would.
std::shared_ptr<const cache::Entry> coded_for(compress::CompressDownstream* compressing, cache::Store& store,
                                              const std::shared_ptr<const cache::Entry>& e,
                                              const http::Request& req, Seconds now) {
  if (!compressing || compressing->accepted() == compress::Coding::identity) return nullptr;
  if (!compress::entry_compressible(compressing->config(), *e)) return nullptr;
  return compress::coded_variant(store, e, req, compressing->accepted(), compressing->config(), now);
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

// When a fetch was sent and its answer received, for the stored times.
struct ExchangeTimes {
  Seconds request = 0;
  Seconds response = 0;
};

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
  void compress_with(compress::CompressDownstream* compressing) { compressing_ = compressing; }
  // At the end of a client exchange: tells the zone what it did (report, trace).
  void observe();
  static asio::awaitable<void> run_refresh(std::shared_ptr<NullDownstream> down, std::shared_ptr<WorkerState> state,
                                           Worker& worker, const RouteConfig& route,
                                           std::shared_ptr<const cache::Entry> e, cache::FillLead lead,
                                           std::string key);

 private:
  void start_lookup(std::string key);
  asio::awaitable<void> pass_through(cache::RequestUse why);
  // A Range request that the cache does not fill for (passes_range, or the
  // key's responses are not being stored): upstream with its Range, MISS.
  asio::awaitable<void> pass_range();
  // only-if-cached and nothing stored may be used: 504 (RFC 9111 5.2.1.7).
  asio::awaitable<void> not_cached();
  asio::awaitable<void> with_entry(std::shared_ptr<const cache::Entry> e);
  asio::awaitable<void> miss();
  cache::TieredLookup::ServeShared serve_shared();
  asio::awaitable<void> follow(cache::FillFollow fill);
  // Streams `slice` of the fill's body from its file as the leader writes it.
  asio::awaitable<void> stream_fill(cache::FillFollow& fill, cache::Fill::View view, BodySlice slice);
  // A background refresh of `stale`, leading `lead`.
  asio::awaitable<void> refresh(std::shared_ptr<const cache::Entry> stale, cache::FillLead lead, std::string key);
  void start_background_refresh(std::shared_ptr<const cache::Entry> e, cache::FillLead lead);

  // Fetches from upstream and stores what may be stored, leading `lead`
  // and holding `lock` (either may hold nothing). `stale`: the entry being
  // revalidated, if any. Then one of its phases below.
  asio::awaitable<void> fetch_and_store(std::shared_ptr<const cache::Entry> stale, cache::FillLead lead,
                                        cache::FleetLock lock);
  // No response from the upstream: the stale entry if it may be served, else 502/503/504.
  asio::awaitable<void> upstream_failed(proxy::Fetch& fetch, Outcome o, std::shared_ptr<const cache::Entry> stale);
  // A 304 for `stale`: its refreshed entry is stored and served.
  asio::awaitable<void> revalidated(proxy::Fetch& fetch, std::shared_ptr<const cache::Entry> stale,
                                    cache::FillLead& lead, ExchangeTimes times);
  // A new response: stored if it may be, and relayed.
  asio::awaitable<void> store_and_relay(proxy::Fetch& fetch, const http::Request& ureq, bool revalidating,
                                        cache::FillLead& lead, cache::FleetLock& lock, ExchangeTimes times);
  asio::awaitable<void> relay_body(proxy::Fetch& fetch, std::unique_ptr<cache::EntryWriter> writer,
                                   cache::FillLead& lead, cache::FleetLock& lock, BodySlice slice);
  bool may_serve_stale(const std::shared_ptr<const cache::Entry>& stale, cache::StaleIf failure) const;

  asio::awaitable<bool> serve_entry(std::shared_ptr<const cache::Entry> e, cache::CacheStatus status);
  void count(cache::CacheStatus s);

  Downstream& down_;
  const http::Request& req_;
  const RouteConfig& route_;
  const cache::RuleConfig& rule_;
  std::shared_ptr<WorkerState> state_;
  cache::Zone& zone_;
  ZoneStats& zone_stats_;
  Worker& worker_;
  std::optional<cache::TieredLookup> tiers_;  // once the key is known
  // A background refresh past background_update_timeout: its lead was
  // ended, and what it fetches is no longer stored.
  std::shared_ptr<bool> abandoned_;
  Seconds now_ = 0;
  bool shared_hit_ = false;  // served from the shared tier
  bool only_if_cached_ = false;  // the client's only-if-cached: never the upstream
  cache::Observation obs_;       // what observe() reports, filled in on the way
  std::uint64_t stored_head_ = 0;  // a relayed response's file bytes before its body (stored or estimated)
  compress::CompressDownstream* compressing_ = nullptr;  // down_, when it compresses
};

// A stored entry served with `status`, for the zone's report and trace.
cache::Observation entry_observation(const cache::Entry& e, cache::CacheStatus status, bool body_sent) {
  cache::Observation o;
  o.status = status;
  o.size = e.charged;
  o.body = body_sent ? e.meta.body_size : 0;
  o.ttl = cache::trace_ttl(e.meta.freshness.lifetime);
  o.flags = cache::kTraceStorable | cache::kTraceStored;
  return o;
}

void CachedExchange::observe() {
  obs_.route = route_.name;
  std::string key;
  if (tiers_) obs_.key = tiers_->key();
  else if (zone_.trace()) obs_.key = key = cache::cache_key(req_, rule_);  // a bypass: its key for the trace only
  zone_.observe(obs_);
}

void CachedExchange::count(cache::CacheStatus s) {
  obs_.status = s;
  zone_stats_.cache[static_cast<int>(s)].inc();
  down_.info().cache = cache::kCacheStatusNames[static_cast<int>(s)];
}

void CachedExchange::start_lookup(std::string key) {
  tiers_.emplace(zone_, rule_, req_, std::move(key), static_cast<std::size_t>(worker_.id()), worker_.io().get_executor());
}

asio::awaitable<void> CachedExchange::run() {
  if (auto use = cache::request_use(req_, rule_); use != cache::RequestUse::cache) {
    co_await pass_through(use);
    co_return;
  }
  start_lookup(cache::cache_key(req_, rule_));
  now_ = cache::now_seconds();
  only_if_cached_ = cache::only_if_cached(req_);
  auto local = tiers_->local(now_);
  if (local.refused && only_if_cached_) co_await not_cached();
  else if (local.refused) co_await fetch_and_store(nullptr, {}, {});  // credentials: fetched alone, outside any fill
  else if (local.entry) co_await with_entry(std::move(local.entry));
  else co_await miss();
}

asio::awaitable<void> CachedExchange::pass_through(cache::RequestUse why) {
  const bool by_method = why == cache::RequestUse::pass_method;
  count(cache::CacheStatus::bypass);
  proxy::PassOptions options;
  cache::CacheStatusFacts facts;
  facts.method = by_method;
  facts.request_body = why == cache::RequestUse::pass_body;
  const auto fields = cache::cache_fields(cache::CacheStatus::bypass, facts);
  options.extra_fields = fields;
  if (by_method) {
    // RFC 9111 4.4: a successful unsafe request invalidates what the cache
    // holds for its target (and Location / Content-Location). At once, on
    // the response head: a client that reads this response and asks again
    // must not get the old entry.
    options.on_response = [&](const http::Response& resp) {
      if (!cache::invalidates(req_.method, resp.status)) return;
      auto host = req_.headers.get("Host").value_or("");
      for (const auto& t : cache::invalidated_targets(req_, resp)) zone_.store.purge_url(cache::url_key(host, t, rule_));
    };
  }
  co_await proxy::serve(down_, route_, *state_, worker_, options);
}

asio::awaitable<void> CachedExchange::pass_range() {
  count(cache::CacheStatus::miss);
  cache::CacheStatusFacts facts;
  facts.not_stored = "range-pass";
  const auto fields = cache::cache_fields(cache::CacheStatus::miss, facts);
  proxy::PassOptions options;
  options.extra_fields = fields;
  co_await proxy::serve(down_, route_, *state_, worker_, options);
}

asio::awaitable<void> CachedExchange::not_cached() {
  count(cache::CacheStatus::miss);
  cache::CacheStatusFacts facts;
  facts.only_if_cached = true;
  static constexpr std::string_view kBody = "only-if-cached: no stored response can be used\n";
  http::Response resp;
  resp.status = 504;
  resp.headers.set("Content-Type", "text/plain; charset=utf-8");
  proxy::add_fields(resp.headers, cache::cache_fields(cache::CacheStatus::miss, facts));
  resp.content_length = kBody.size();
  down_.write_head(resp);
  co_await down_.write_body(kBody, true);
}

asio::awaitable<bool> CachedExchange::serve_entry(std::shared_ptr<const cache::Entry> e, cache::CacheStatus status) {
  const auto& m = e->meta;
  auto facts = entry_facts(m, now_);
  facts.shared_tier = shared_hit_;

  if (cache::answers_not_modified(req_, m.status, m.validators)) {
    // The client's copy is current: a 304 of our own.
    auto head = cache::not_modified_head(m.head);
    if (!head) co_return false;
    count(status);
    obs_ = entry_observation(*e, status, false);
    down_.write_head_raw(304, *head, cache::cache_fields(status, facts), 0);
    co_await down_.finish();
    co_return true;
  }
  facts.accept_ranges = m.status == 200;
  const auto fields = cache::cache_fields(status, facts);
  // A Range: a 206 or a 416 from the entry instead of the whole of it
  // (never from a compressed variant, as nginx never compresses a range).
  auto range = stored_range(req_, m);
  // Or the whole of its compressed variant, as it is (not through the
  // compressing Downstream, which would look at it again).
  auto coded = range ? nullptr : coded_for(compressing_, zone_.store, e, req_, now_);
  const cache::Entry& sent = coded ? *coded : *e;
  Downstream& out = coded ? compressing_->inner() : down_;

  std::shared_ptr<cache::FileRef> file;
  if (!sent.body && sent.meta.body_size > 0 && !req_.is_head() && (!range || range->needs_body())) {
    file = zone_.store.open(sent);
    if (!file) {
      // The file went away (purged or evicted a moment ago): not served.
      zone_.store.remove(coded ? coded : e);
      co_return false;
    }
  }
  count(status);
  obs_ = entry_observation(*e, status, !req_.is_head());
  if (range) {
    co_await write_stored_range(down_, *e, file.get(), std::move(*range), fields);
    co_return true;
  }
  out.write_head_raw(m.status, sent.meta.head, fields, sent.meta.body_size);
  if (sent.body) co_await out.write_body(*sent.body, true);
  else if (file) co_await out.write_file(file->fd, sent.body_offset, sent.meta.body_size, true);
  else co_await out.finish();
  co_return true;
}

asio::awaitable<void> CachedExchange::with_entry(std::shared_ptr<const cache::Entry> e) {
  using cache::CacheStatus;
  switch (cache::usability(e->meta.freshness, e->meta.age(now_), req_, rule_)) {
    case cache::Usability::fresh:
      if (co_await serve_entry(e, CacheStatus::hit)) co_return;
      break;
    case cache::Usability::stale_while_revalidate: {
      // Serve it stale; the first such request starts one refresh.
      auto lead = tiers_->lead_refresh(now_);
      const bool leader = static_cast<bool>(lead);
      if (leader) start_background_refresh(e, std::move(lead));
      if (co_await serve_entry(e, leader ? CacheStatus::stale : CacheStatus::updating)) co_return;
      break;
    }
    case cache::Usability::stale_revalidate:
      if (may_serve_stale(e, cache::StaleIf::updating) && tiers_->updating()) {
        if (co_await serve_entry(e, CacheStatus::updating)) co_return;
        break;
      }
      if (only_if_cached_) {
        // Only a revalidation could make it usable (a stale entry the
        // client did not accept with max-stale): nothing usable is stored.
        co_await not_cached();
        co_return;
      }
      {
        auto joined = tiers_->join(now_);
        if (joined.follow) co_await follow(std::move(joined.follow));
        else co_await fetch_and_store(std::move(e), std::move(joined.lead), {});
        co_return;
      }
  }
  co_await miss();  // the entry could not be served after all
}

cache::TieredLookup::ServeShared CachedExchange::serve_shared() {
  return [this](std::shared_ptr<const cache::Entry> e, Seconds now) {
    now_ = now;
    shared_hit_ = true;
    return serve_entry(std::move(e), cache::CacheStatus::hit);
  };
}

asio::awaitable<void> CachedExchange::miss() {
  if (only_if_cached_) {
    // Stored in the fleet's shared tier counts; the upstream does not.
    if (!co_await tiers_->stored_elsewhere(serve_shared())) co_await not_cached();
    co_return;
  }
  auto next = co_await tiers_->after_local_miss(now_, serve_shared());
  if (next.served) co_return;
  if (next.follow) co_await follow(std::move(next.follow));
  // No fill to lead: the key's responses are not being stored (hit-for-miss,
  // such as an object over range_fill_max): a Range goes upstream as it is.
  else if (!next.lead && cache::range_requested(req_)) co_await pass_range();
  else co_await fetch_and_store(nullptr, std::move(next.lead), std::move(next.lock));
}

void CachedExchange::start_background_refresh(std::shared_ptr<const cache::Entry> e, cache::FillLead lead) {
  zone_stats_.background_updates.inc();
  // The refresh outlives this request: it owns copies of what it needs and
  // keeps the configuration it started with alive.
  auto down = std::make_shared<NullDownstream>(cache::fill_request(req_), std::string(down_.peer()));
  asio::co_spawn(worker_.io(),
                 run_refresh(std::move(down), state_, worker_, route_, std::move(e), std::move(lead), tiers_->key()),
                 log::on_exception("background refresh"));
}

// Parameters by value: the coroutine outlives the request that started it.
asio::awaitable<void> CachedExchange::run_refresh(std::shared_ptr<NullDownstream> down,
                                                  std::shared_ptr<WorkerState> state, Worker& worker,
                                                  const RouteConfig& route, std::shared_ptr<const cache::Entry> e,
                                                  cache::FillLead lead, std::string key) {
  CachedExchange ex(*down, route, std::move(state), worker);
  co_await ex.refresh(std::move(e), std::move(lead), std::move(key));
}

asio::awaitable<void> CachedExchange::refresh(std::shared_ptr<const cache::Entry> stale, cache::FillLead lead,
                                              std::string key) {
  start_lookup(std::move(key));
  now_ = cache::now_seconds();
  // upstream_read bounds each read, not the whole refresh: past
  // background_update_timeout the key is freed for the next request to
  // refresh, and this one stops at its next step.
  abandoned_ = std::make_shared<bool>(false);
  asio::steady_timer timer(worker_.io(), rule_.background_update_timeout);
  timer.async_wait([abandoned = abandoned_, end = lead.ender(), what = std::string(req_.target)](auto ec) {
    if (ec) return;
    *abandoned = true;
    end();
    log::warn("background refresh of " + what + " abandoned after background_update_timeout");
  });
  co_await fetch_and_store(std::move(stale), std::move(lead), {});
  timer.cancel();
}

asio::awaitable<void> CachedExchange::fetch_and_store(std::shared_ptr<const cache::Entry> stale, cache::FillLead lead,
                                                      cache::FleetLock lock) {
  // The request as sent upstream; the client's own when it can go as it is.
  std::optional<http::Request> own;
  if (stale) own = cache::revalidation_request(req_, stale->meta.validators);
  else if (!cache::is_fill_request(req_)) own = cache::fill_request(req_);
  const http::Request& ureq = own ? *own : req_;

  proxy::Fetch fetch(ureq, down_.peer(), nullptr, route_, *state_, worker_, down_.info());
  fetch.forward_interim(down_);  // to the client leading the fill, never stored nor sent to followers
  ExchangeTimes times;
  times.request = cache::now_seconds();
  auto o = co_await fetch.start();
  times.response = cache::now_seconds();
  now_ = times.response;
  if (abandoned_ && *abandoned_) {
    co_await fetch.finish();
    co_return;
  }

  if (o != Outcome::ok) {
    co_await upstream_failed(fetch, o, std::move(stale));
    co_return;
  }
  const int status = fetch.response().status;
  if (stale && status == 304) {
    co_await revalidated(fetch, std::move(stale), lead, times);
    co_return;
  }
  if (auto failure = cache::stale_condition(status); failure && may_serve_stale(stale, *failure)) {
    co_await fetch.finish();
    if (co_await serve_entry(stale, cache::CacheStatus::stale)) co_return;
  }
  co_await store_and_relay(fetch, ureq, stale != nullptr, lead, lock, times);
}

bool CachedExchange::may_serve_stale(const std::shared_ptr<const cache::Entry>& stale, cache::StaleIf failure) const {
  return stale && cache::may_serve_stale(stale->meta.freshness, stale->meta.age(now_), rule_, failure);
}

asio::awaitable<void> CachedExchange::upstream_failed(proxy::Fetch& fetch, Outcome o,
                                                      std::shared_ptr<const cache::Entry> stale) {
  co_await fetch.finish();
  const int status = fetch.failure_status();
  if (may_serve_stale(stale, cache::failure_condition(status)) && co_await serve_entry(stale, cache::CacheStatus::stale))
    co_return;
  state_->upstream_stats[route_.upstream_index]->errors.inc();
  co_await proxy::respond_failure(down_, route_, status, status == 503 ? "no healthy instance" : upstreams::to_string(o));
}

asio::awaitable<void> CachedExchange::revalidated(proxy::Fetch& fetch, std::shared_ptr<const cache::Entry> stale,
                                                  cache::FillLead& lead, ExchangeTimes times) {
  std::span<const char> piece;
  bool done = false;
  co_await fetch.read_body(piece, done);
  co_await fetch.finish();
  if (auto meta = cache::revalidated_meta(stale->meta, fetch.response().headers, rule_, times.request, times.response)) {
    auto refreshed = zone_.store.refresh(stale, std::move(*meta));
    if (lead) lead->complete();
    if (co_await serve_entry(refreshed, cache::CacheStatus::revalidated)) co_return;
  }
  // The stored copy went away meanwhile (purged, or its file rewritten):
  // fetch the whole response instead.
  co_await fetch_and_store(nullptr, {}, {});
}

asio::awaitable<void> CachedExchange::store_and_relay(proxy::Fetch& fetch, const http::Request& ureq, bool revalidating,
                                                      cache::FillLead& lead, cache::FleetLock& lock,
                                                      ExchangeTimes times) {
  auto& resp = fetch.response();
  proxy::rewrite_response_head(resp);
  if (cache::passes_range(req_, resp, rule_)) {
    // Too large to fill for a range: the whole body is left unread (the
    // connection closes) and the client's request goes as it is. For a
    // while the key's requests go upstream in parallel, Ranges as they are.
    co_await fetch.finish();
    // The lead ends now, not when this exchange does: the client may have
    // its answer and ask again before this coroutine is destroyed, and must
    // then find the key passed, not a released fill to follow.
    lead.pass(now_);
    lead.finish();
    co_await pass_range();
    co_return;
  }
  const auto decision = cache::can_store(ureq, resp, rule_);
  std::unique_ptr<cache::EntryWriter> writer;
  auto refusal = cache::Store::Refusal::none;
  if (decision.store) {
    // The running configuration's tags_header (the zone keeps the one it was built with).
    const auto& tags_header = state_->runtime->config->caches[rule_.zone_index].tags_header;
    auto meta = cache::response_meta(tiers_->key(), req_, resp, rule_, tags_header, times.request, times.response);
    auto shared_meta = std::make_shared<const cache::EntryMeta>(meta);
    obs_.ttl = cache::trace_ttl(meta.freshness.lifetime);
    writer = zone_.store.begin(std::move(meta), &refusal);
    if (writer && lead) lead->stream(shared_meta, writer->reader(), writer->body_offset(), resp.content_length);
  } else if (lead) {
    lead.pass(now_);  // not storable: let the next ones go upstream in parallel
  }
  if (!writer) lead.finish();  // followers go upstream at once, the key is passed (or free) from now
  obs_.flags = (decision.store ? cache::kTraceStorable : 0) | (writer ? cache::kTraceStored : 0) |
               (refusal == cache::Store::Refusal::disk_backlog ? cache::kTraceRefused : 0);
  // Not stored: the file's header, key and head it would have had, about.
  stored_head_ = writer ? writer->body_offset()
                        : cache::FileHeader::kSize + tiers_->key().size() + resp.headers.bytes() + 4 * resp.headers.size();

  const auto status = revalidating ? cache::CacheStatus::expired : cache::CacheStatus::miss;
  cache::CacheStatusFacts facts;
  facts.upstream_status = resp.status;
  facts.not_stored = writer            ? ""
                     : !decision.store ? decision.reason
                     : refusal == cache::Store::Refusal::disk_backlog ? "disk-backlog"
                     : refusal == cache::Store::Refusal::admission    ? "admission"
                                                                       : "write-failed";
  facts.accept_ranges = writer && resp.status == 200 && !resp.headers.contains("Accept-Ranges");
  count(status);
  const auto slice = co_await write_relay_head(down_, req_, resp, cache::cache_fields(status, facts));
  co_await relay_body(fetch, std::move(writer), lead, lock, slice);
}

asio::awaitable<void> CachedExchange::relay_body(proxy::Fetch& fetch, std::unique_ptr<cache::EntryWriter> writer,
                                                 cache::FillLead& lead, cache::FleetLock& lock, BodySlice slice) {
  const auto content_length = fetch.response().content_length;
  bool client_ok = !slice.none;  // the client still takes bytes
  std::uint64_t offset = 0;      // of `piece` in the body
  for (;;) {
    std::span<const char> piece;
    bool done = false;
    if (co_await fetch.read_body(piece, done) != Outcome::ok) {
      if (client_ok) down_.abort();
      break;
    }
    if (abandoned_ && *abandoned_) break;  // an abandoned refresh: nothing stored
    if (writer && !writer->write(std::string_view(piece.data(), piece.size()))) {
      writer.reset();  // disk trouble: the client is still served
      if (lead) lead->fail();
    }
    if (writer && lead) lead->progress(writer->written());
    if (done && writer) {
      // Committed before the client gets its last byte: whoever asks next
      // finds the entry.
      auto entry = writer->commit(content_length);
      writer.reset();
      if (lead) {
        if (entry) lead->complete();
        else lead->fail();
      }
      if (entry) tiers_->share(*entry, lock);
    }
    if (client_ok) {
      bool last = false;
      const auto part = slice.cut(offset, piece, done, last);
      if ((!part.empty() || last) && co_await down_.write_body(part, last)) client_ok = false;
      if (last) client_ok = false;  // its response is complete
    }
    offset += piece.size();
    if (done) break;
    // Without a client the fill goes on only for the followers and the cache.
    if (!client_ok && !writer) break;
  }
  obs_.body = obs_.fetched = offset;
  obs_.size = cache::trace_charge(stored_head_, offset);
  co_await fetch.finish();
}

asio::awaitable<void> CachedExchange::follow(cache::FillFollow fill) {
  zone_stats_.coalesced.inc();
  auto view = fill->view();
  // Until the head arrives: at most lock_timeout, then on our own.
  auto lock_deadline = Clock::now() + rule_.lock_timeout;
  while (view.state == cache::Fill::State::pending) {
    auto left = lock_deadline - Clock::now();
    if (left <= Clock::duration::zero() || !co_await wait_for_change(*fill, view.version, left)) break;
    view = fill->view();
  }
  http::Response resp;
  if (!view.serves(req_) || !http::parse_response_head(view.meta->head, resp)) {
    // Released, failed, timed out, or stored for another Vary variant.
    co_await fetch_and_store(nullptr, {}, {});
    co_return;
  }
  resp.content_length = view.content_length;
  if (view.state == cache::Fill::State::complete) resp.content_length = view.body_bytes;
  cache::CacheStatusFacts facts;
  facts.collapsed = true;
  facts.accept_ranges = resp.status == 200;
  count(cache::CacheStatus::miss);
  obs_.body = resp.content_length.value_or(view.body_bytes);
  obs_.size = cache::trace_charge(view.body_offset, obs_.body);
  obs_.ttl = cache::trace_ttl(view.meta->freshness.lifetime);
  obs_.flags = cache::kTraceStorable | cache::kTraceStored;
  const auto slice = co_await write_relay_head(down_, req_, resp, cache::cache_fields(cache::CacheStatus::miss, facts));
  if (!slice.none) co_await stream_fill(fill, std::move(view), slice);
}

asio::awaitable<void> CachedExchange::stream_fill(cache::FillFollow& fill, cache::Fill::View view, BodySlice slice) {
  using State = cache::Fill::State;
  const auto& timeouts = state_->runtime->config->timeouts;
  std::string buf;
  std::uint64_t pos = slice.first;  // the next body byte to send
  for (;;) {
    const std::uint64_t available = std::min(view.body_bytes, slice.end);
    if (pos < available) {
      buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kFollowChunk, available - pos)));
      ssize_t n = ::pread(view.file->fd, buf.data(), buf.size(), static_cast<off_t>(view.body_offset + pos));
      if (n <= 0) {
        down_.abort();
        co_return;
      }
      pos += static_cast<std::uint64_t>(n);
      bool last = pos == slice.end || (view.state == State::complete && pos == view.body_bytes);
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

namespace {

constexpr auto kHit = static_cast<std::size_t>(cache::CacheStatus::hit);

// A fresh RAM-tier hit for `req` on a cached proxy route, observed and
// counted in its zone; null if there is none.
std::shared_ptr<const cache::Entry> memory_hit(const http::Request& req, const RouteConfig& route, WorkerState& state,
                                               Seconds now) {
  if (route.kind != RouteConfig::Kind::proxy || !route.cache) return nullptr;
  const auto& rule = *route.cache;
  auto& zone = *state.runtime->zones[rule.zone_index];
  auto e = zone.fresh_memory_hit(req, rule, now);
  if (!e) return nullptr;
  auto obs = entry_observation(*e, cache::CacheStatus::hit, !req.is_head());
  obs.route = route.name;
  obs.key = e->meta.key;
  zone.observe(obs);
  state.zone_stats[rule.zone_index]->cache[kHit].inc();
  return e;
}

}  // namespace

std::shared_ptr<const cache::Entry> queue_memory_hit(Downstream& down, const Router::Match& match, WorkerState& state,
                                                     compress::CompressDownstream* compressing) {
  const auto& req = down.request();
  if (!match.route->cache || !cache::fast_client_hit_request(req, *match.route->cache)) return nullptr;
  const Seconds now = cache::now_seconds();
  auto e = memory_hit(req, *match.route, state, now);
  if (!e) return nullptr;
  auto& store = state.runtime->zones[match.route->cache->zone_index]->store;
  // Its compressed variant, when the client accepts one and it is in RAM
  // too (else the entry, compressed as it streams).
  auto coded = coded_for(compressing, store, e, req, now);
  Downstream& out = coded && coded->body ? compressing->inner() : down;
  // serve_entry's head, for a GET without preconditions or Range.
  const auto& m = e->meta;
  auto facts = entry_facts(m, now);
  facts.accept_ranges = m.status == 200;
  thread_local std::string fields;  // one buffer per worker: no allocation per hit
  fields.clear();
  cache::append_cache_fields(fields, cache::CacheStatus::hit, facts);
  down.info().cache = cache::kCacheStatusNames[kHit];
  if (&out != &down) {
    out.write_head_raw(m.status, coded->meta.head, fields, coded->meta.body_size);
    return coded;
  }
  down.write_head_raw(m.status, m.head, fields, m.body_size);
  return e;
}

std::shared_ptr<const cache::Entry> fresh_memory_hit(const http::Request& req, const Router::Match& match,
                                                     WorkerState& state) {
  auto e = memory_hit(req, *match.route, state, cache::now_seconds());
  if (!e) return nullptr;
  auto& stats = *state.route_stats[match.index];
  stats.cache[kHit].inc();
  if (e->meta.status >= 100 && e->meta.status < 600) stats.by_class[e->meta.status / 100 - 1].inc();
  return e;
}

asio::awaitable<void> serve(Downstream& down, const Router::Match& match, WorkerState& state, Worker& worker,
                            compress::CompressDownstream* compressing) {
  CachedExchange ex(down, *match.route, state.shared_from_this(), worker);
  ex.compress_with(compressing);
  co_await ex.run();
  ex.observe();
}

}  // namespace gateway::cache_proxy
