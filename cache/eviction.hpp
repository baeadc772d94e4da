// Eviction policies behind one small interface: which stored entry to remove
// when a zone is over its size. LRU and S3-FIFO (Yang et al., "FIFO queues
// are all you need for cache eviction", SOSP 2023).
//
// Pure data structures, no I/O and no locking: the disk store keeps one per
// index shard under the shard's mutex, and the hit-rate replay tool drives
// the very same code with a trace.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace gateway::cache {

// Entries are named by a 64-bit id chosen by the caller (a key hash), and
// carry a size in bytes (what counts against the budget).
class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;

  // A new entry. Must not be present already.
  virtual void insert(std::uint64_t id, std::uint64_t size) = 0;
  // A hit on a present entry (unknown ids are ignored).
  virtual void touch(std::uint64_t id) = 0;
  // The entry was removed for another reason (purge, expiry, replacement).
  virtual void erase(std::uint64_t id) = 0;
  // Chooses the next entry to evict and forgets it; nullopt when empty.
  // The caller removes the entry from its own index and storage.
  virtual std::optional<std::uint64_t> evict() = 0;
  // A new byte budget (a reload resized the zone): the entries and their
  // order stay; S3-FIFO re-sizes its small share and its ghost queue. The
  // caller evicts down to the new budget.
  virtual void resize(std::uint64_t capacity) = 0;

  virtual bool contains(std::uint64_t id) const = 0;
  virtual std::uint64_t bytes() const = 0;   // sum of sizes present
  virtual std::size_t entries() const = 0;
};

enum class PolicyKind { lru, s3fifo };

// `capacity` is the byte budget the policy is sized for (S3-FIFO splits it
// into its small and main queues and sizes its ghost queue from it).
std::unique_ptr<EvictionPolicy> make_policy(PolicyKind kind, std::uint64_t capacity);
std::optional<PolicyKind> parse_policy(std::string_view name);
std::string_view to_string(PolicyKind kind);

}  // namespace gateway::cache
