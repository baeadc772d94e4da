// The tier order of one request (see tiered_lookup.hpp). Runs on the worker
// of the request; the store, the fill table and the shared tier it calls
// are shared by all workers.
#include "cache/tiered_lookup.hpp"

#include <unistd.h>

#include "cache/clock.hpp"

namespace gateway::cache {

namespace asio = boost::asio;

TieredLookup::TieredLookup(Zone& zone, const RuleConfig& rule, const http::Request& req, std::string key,
                           std::size_t worker, asio::any_io_executor ex)
    : zone_(zone), rule_(rule), req_(req), key_(std::move(key)), worker_(worker), ex_(std::move(ex)) {}

RedisClient& TieredLookup::client() { return zone_.tier->client(worker_, ex_); }

TieredLookup::Local TieredLookup::local(Seconds now) {
  auto e = zone_.store.lookup(key_, req_, now);
  // A request with credentials gets a stored response only if that response
  // says it may be shared so; otherwise it asks the upstream itself.
  if (e && !reusable_with_authorization(req_, e->meta.head, rule_)) return {nullptr, true};
  return {std::move(e), false};
}

FillTable::Joined TieredLookup::join(Seconds now) { return zone_.fills.join(key_, rule_.lock_max_waiters, now); }

FillLead TieredLookup::lead_refresh(Seconds now) { return std::move(zone_.fills.join(key_, 0, now).lead); }

bool TieredLookup::updating() const { return rule_.use_stale.has(StaleIf::updating) && zone_.fills.in_flight(key_); }

asio::awaitable<TieredLookup::AfterMiss> TieredLookup::after_local_miss(Seconds now, ServeShared serve) {
  AfterMiss next;
  auto joined = join(now);
  if (joined.follow) {
    next.follow = std::move(joined.follow);
    co_return next;
  }
  next.lead = std::move(joined.lead);
  if (!zone_.tier) co_return next;
  // The fleet's shared tier, before the upstream: one gateway per key
  // fetches (it holds the lock), the others wait for its fill.
  auto& tier = *zone_.tier;
  if (co_await from_shared_tier(next.lead, serve)) {
    next.served = true;
    co_return next;
  }
  next.lock = co_await tier.lock(client(), key_);
  if (!next.lock.held() && co_await tier.wait_filled(key_, tier.config().lock_timeout) &&
      co_await from_shared_tier(next.lead, serve))
    next.served = true;
  co_return next;
}

asio::awaitable<bool> TieredLookup::stored_elsewhere(ServeShared serve) {
  if (!zone_.tier) co_return false;
  FillLead none;
  co_return co_await from_shared_tier(none, serve);
}

// A hit in the shared tier: stored locally, then served like a local hit.
asio::awaitable<bool> TieredLookup::from_shared_tier(FillLead& lead, const ServeShared& serve) {
  auto found = co_await zone_.tier->lookup(client(), key_, req_);
  if (!found) co_return false;
  const Seconds now = now_seconds();
  // The same rules as for a local entry: the client's own no-cache when the
  // route honours it, and credentials only for what may be shared so.
  if (usability(found->meta.freshness, found->meta.age(now), req_, rule_) != Usability::fresh) co_return false;
  if (!reusable_with_authorization(req_, found->meta.head, rule_)) co_return false;
  auto entry = store_locally(std::move(*found), lead);
  if (lead) {
    lead->progress(entry->meta.body_size);
    lead->complete();
    lead.finish();
  }
  co_return co_await serve(std::move(entry), now);
}

// The local copy of a shared-tier entry, streamed to the followers of
// `lead` as it is written.
std::shared_ptr<const Entry> TieredLookup::store_locally(SharedTier::Found found, FillLead& lead) {
  std::shared_ptr<const Entry> entry;
  if (auto w = zone_.store.begin(found.meta); w && w->write(found.body)) {
    if (lead)
      lead->stream(std::make_shared<const EntryMeta>(found.meta), w->reader(), w->body_offset(), found.body.size());
    entry = w->commit(found.body.size());
  }
  if (!entry) {
    // Not stored locally (disk trouble): served from memory all the same.
    auto e = std::make_shared<Entry>();
    e->meta = std::move(found.meta);
    e->body = std::make_shared<const std::string>(std::move(found.body));
    entry = std::move(e);
  }
  return entry;
}

void TieredLookup::share(const Entry& e, FleetLock& lock) {
  if (!zone_.tier) return;
  auto& tier = *zone_.tier;
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
    } else {
      ttl_ms = 0;  // the file went away (evicted, purged): never share an empty body
    }
  } else {
    ttl_ms = 0;  // too big or not fresh: only announce and unlock
  }
  if (lock.held()) lock.fill(m, body, ttl_ms);
  else tier.fill(client(), m, body, ttl_ms);
}

}  // namespace gateway::cache
