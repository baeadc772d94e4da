// The tier order of one request on a cache zone, with the single flights
// that go with it:
//   1. the local store: RAM tier, then the entry's file          local()
//   2. after a local miss, this gateway's fill of the key: follow it if
//      another request leads one, else lead it                    after_local_miss()
//   3. the fleet's shared tier, if the zone has one: a usable entry is
//      stored locally, then served
//   4. the fleet's fill lock: take it and fetch, or wait for the gateway
//      that holds it and ask the shared tier once more
//   5. the upstream: the server fetches, holding what 2 and 4 gave it (a
//      FillLead, a FleetLock: whatever happens, their ends tell the waiters),
//      and shares what it stored with the fleet                   share()
// A stored response that must be revalidated joins the local fill the same
// way (join()); one served stale while revalidating leads at most one
// background refresh (lead_refresh()).
//
// Knows nothing of client connections or the server: it works on the
// request, the zone and the worker's executor; answering the client is the
// server's, handed in as a callback.
//
// One per request, on the worker that runs the request (the shared tier's
// connection is that worker's).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>

#include "cache/zone.hpp"

namespace gateway::cache {

class TieredLookup {
 public:
  // `worker`: the index of the worker running the request; `ex` its executor.
  TieredLookup(Zone& zone, const RuleConfig& rule, const http::Request& req, std::string key, std::size_t worker,
               boost::asio::any_io_executor ex);

  const std::string& key() const noexcept { return key_; }

  // 1. The stored variant for the request. `refused`: there is one, but the
  // request carries credentials it may not be reused for
  // (reusable_with_authorization): the request is fetched on its own,
  // outside any fill.
  struct Local {
    std::shared_ptr<const Entry> entry;
    bool refused = false;
  };
  Local local(Seconds now);

  // For a stored response to revalidate: lead the key's fill, follow it, or
  // neither (hit-for-miss, or the rule's lock_max_waiters followers already).
  FillTable::Joined join(Seconds now);
  // For a response served stale while revalidating: the first request leads
  // the one background refresh; nobody follows it (the others are served
  // stale too).
  FillLead lead_refresh(Seconds now);
  // use_stale: updating, and a fill of the key in flight: the stale response
  // may be served at once.
  bool updating() const;

  // 2-4, after a local miss. `serve` answers the client from an entry of the
  // shared tier (stored locally already) as of `now`, and says whether it
  // could. What is left to do: nothing (served), follow a local fill, or
  // fetch, leading `lead` (which may lead nothing) and holding `lock` (which
  // may hold nothing).
  using ServeShared = std::function<boost::asio::awaitable<bool>(std::shared_ptr<const Entry>, Seconds now)>;
  struct AfterMiss {
    bool served = false;
    FillFollow follow;
    FillLead lead;
    FleetLock lock;
  };
  boost::asio::awaitable<AfterMiss> after_local_miss(Seconds now, ServeShared serve);
  // 3 alone, after a local miss, for a request that must not reach the
  // upstream (only-if-cached): a usable entry of the shared tier is stored
  // locally and served; no fill is led or followed, no lock taken. False
  // without a shared tier or a usable entry in it.
  boost::asio::awaitable<bool> stored_elsewhere(ServeShared serve);

  // 5. A committed entry goes to the shared tier too (if the zone has one),
  // with its remaining freshness as expiry; `lock` (held or not) is released
  // with the announcement.
  void share(const Entry& e, FleetLock& lock);

 private:
  RedisClient& client();
  boost::asio::awaitable<bool> from_shared_tier(FillLead& lead, const ServeShared& serve);
  std::shared_ptr<const Entry> store_locally(SharedTier::Found found, FillLead& lead);

  Zone& zone_;
  const RuleConfig& rule_;
  const http::Request& req_;
  std::string key_;
  std::size_t worker_;
  boost::asio::any_io_executor ex_;
};

}  // namespace gateway::cache
