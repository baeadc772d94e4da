// Fill coalescing: one upstream request per key however many clients miss
// it at once (Varnish's busy objects, nginx's proxy_cache_lock). The first
// miss leads the fill; later ones follow it: they are woken when the
// response head arrives and as body bytes are written to the entry's file,
// and stream from that file, not after the fill completes.
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
    complete,   // body complete (and committed, if `entry` is set)
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
    std::shared_ptr<const Entry> entry;     // when complete and committed
  };

  // Leader.
  void stream(std::shared_ptr<const EntryMeta> meta, std::shared_ptr<FileRef> file, std::uint64_t body_offset,
              std::optional<std::uint64_t> content_length);
  void progress(std::uint64_t body_bytes);
  void complete(std::shared_ptr<const Entry> entry);
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

class FillTable {
 public:
  struct Joined {
    std::shared_ptr<Fill> fill;  // null: do not coalesce (hit-for-miss, or too many followers)
    bool leader = false;
  };
  // Follows the fill of `key` or leads a new one.
  Joined join(const std::string& key, std::size_t max_followers, Seconds now);
  // The leader is done: the key is free for a new fill. With `pass`, the
  // key's responses are not storable: for a while, requests for it go
  // upstream in parallel instead of queueing (Varnish's hit-for-miss).
  void finish(const std::string& key, const std::shared_ptr<Fill>& fill, bool pass, Seconds now);
  // A follower is done with its fill.
  void leave(Fill& fill);
  bool in_flight(const std::string& key) const;

  static constexpr Seconds kPassFor = 10;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Fill>> fills_;
  std::unordered_map<std::string, Seconds> pass_until_;
};

}  // namespace gateway::cache
