// Fill coalescing: one upstream request per key however many clients miss
// it at once (Varnish's busy objects, nginx's proxy_cache_lock). The first
// miss leads the fill; later ones follow it: they are woken when the
// response head arrives and as body bytes are written to the entry's file,
// and stream from that file, not after the fill completes.
//
//   FillTable::join  lead the key's fill, follow the one in flight, or neither
//   FillLead         the leader's hold: whatever happens, its end tells the
//                    followers and frees the key
//   FillFollow       a follower's place, counted until it ends
//
// Shared by all workers of a zone; a follower may run on another thread
// than its leader. Wake-ups are callbacks the follower provides (it posts
// to its own executor), so nobody polls.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "cache/entry.hpp"
#include "cache/store.hpp"

namespace gateway::cache {

class Fill {
 public:
  enum class State {
    pending,    // waiting for the upstream's head
    streaming,  // storable response: head known, body being written
    complete,   // body complete, and committed
    released,   // not storable, or failed before the head: followers fetch for themselves
    failed,     // upstream lost mid-body: followers that started must abort
  };

  struct View {
    State state = State::pending;
    std::uint64_t version = 0;
    std::uint64_t body_bytes = 0;           // written so far
    std::shared_ptr<const EntryMeta> meta;  // from streaming on
    std::shared_ptr<FileRef> file;          // from streaming on
    std::uint64_t body_offset = 0;
    std::optional<std::uint64_t> content_length;  // as the upstream announced it

    // A follower may stream this fill's response to `req`: the head is
    // known (streaming or complete) and was stored for the request's Vary
    // variant (vary_matches).
    bool serves(const http::Request& req) const;
  };

  // Leader.
  void stream(std::shared_ptr<const EntryMeta> meta, std::shared_ptr<FileRef> file, std::uint64_t body_offset,
              std::optional<std::uint64_t> content_length);
  void progress(std::uint64_t body_bytes);
  void complete();
  void release();
  void fail();

  // Followers.
  View view() const;
  // Calls wake() once, from any thread, when the fill changes after
  // `version` (at once if it already has).
  void on_change(std::uint64_t version, std::function<void()> wake);

  std::size_t followers = 0;  // guarded by the FillTable's mutex

 private:
  void changed(std::unique_lock<std::mutex>& lock);

  mutable std::mutex mu_;
  View view_;
  std::vector<std::function<void()>> watchers_;
};

class FillTable;

// A leader's hold on its fill, from FillTable::join to the end of its fetch.
// Its followers are never left waiting: the end (the destructor, or
// finish()) releases a fill still pending (they fetch for themselves), fails
// one still streaming (they abort), and frees the key for a new fill.
class FillLead {
 public:
  FillLead() = default;  // leads nothing
  FillLead(FillTable& table, std::string key, std::shared_ptr<Fill> fill, Seconds now);
  FillLead(FillLead&& other) noexcept;
  FillLead& operator=(FillLead&& other) noexcept;
  ~FillLead() { finish(); }

  explicit operator bool() const noexcept { return fill_ != nullptr; }
  Fill* operator->() const noexcept { return fill_.get(); }

  // The response is not storable: from `now`, for a while, the key's
  // requests go upstream in parallel instead of queueing behind a fill
  // (Varnish's hit-for-miss).
  void pass(Seconds now) noexcept;
  // Ends the lead now rather than at destruction.
  void finish();
  // What ends this lead early from elsewhere (a timer giving up on the
  // leader): its followers are told as by finish() and the key is free for
  // a new fill at once. The leader's later calls then reach only its own,
  // abandoned fill. Callable from any thread, any number of times.
  std::function<void()> ender() const;

 private:
  static void end(FillTable& table, const std::string& key, const std::shared_ptr<Fill>& fill, bool pass,
                  Seconds now);

  FillTable* table_ = nullptr;
  std::string key_;
  std::shared_ptr<Fill> fill_;
  Seconds now_ = 0;
  bool pass_ = false;
};

// A follower's place in a fill, counted against the rule's lock_max_waiters
// until it ends.
class FillFollow {
 public:
  FillFollow() = default;  // follows nothing
  FillFollow(FillTable& table, std::shared_ptr<Fill> fill);
  FillFollow(FillFollow&& other) noexcept;
  FillFollow& operator=(FillFollow&& other) noexcept;
  ~FillFollow() { leave(); }

  explicit operator bool() const noexcept { return fill_ != nullptr; }
  Fill& operator*() const noexcept { return *fill_; }
  Fill* operator->() const noexcept { return fill_.get(); }

 private:
  void leave();

  FillTable* table_ = nullptr;
  std::shared_ptr<Fill> fill_;
};

class FillTable {
 public:
  struct Joined {
    FillLead lead;      // this request leads the key's fill ...
    FillFollow follow;  // ... or follows the one in flight
    // Neither: do not coalesce (hit-for-miss, or max_followers already).
  };
  // Follows the fill of `key` or leads a new one.
  Joined join(const std::string& key, std::size_t max_followers, Seconds now);
  bool in_flight(const std::string& key) const;

  static constexpr Seconds kPassFor = 10;

 private:
  friend class FillLead;
  friend class FillFollow;

  // The leader is done: the key is free for a new fill. With `pass`, the
  // key's responses are not storable: for a while, requests for it go
  // upstream in parallel instead of queueing (Varnish's hit-for-miss).
  void finish(const std::string& key, const std::shared_ptr<Fill>& fill, bool pass, Seconds now);
  // A follower is done with its fill.
  void leave(Fill& fill);

  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Fill>> fills_;
  std::unordered_map<std::string, Seconds> pass_until_;
};

}  // namespace gateway::cache
