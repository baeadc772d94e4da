// Eviction policies behind one small interface: which stored entry to remove
// when a zone is over its size. LRU, S3-FIFO (Yang et al., "FIFO queues are
// all you need for cache eviction", SOSP 2023) with its two parameters, and
// SIEVE (Zhang et al., "SIEVE is simpler than LRU", NSDI 2024).
//
// Pure data structures, no I/O and no locking: the disk store keeps one per
// index shard under the shard's mutex, and the hit-rate replay tool drives
// the very same code with a trace.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
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

  // The entry evict() would most likely choose next, without changing
  // anything (for admission, which weighs a candidate against it). Exact
  // for LRU; for S3-FIFO and SIEVE the first entry a bounded walk from the
  // tail finds that evict() would not spare (or where the walk stopped).
  // nullopt when empty.
  virtual std::optional<std::uint64_t> victim_hint() const = 0;

  virtual bool contains(std::uint64_t id) const = 0;
  virtual std::uint64_t bytes() const = 0;   // sum of sizes present
  virtual std::size_t entries() const = 0;
};

enum class PolicyKind { lru, s3fifo, sieve };

// A policy and its parameters, as a zone's `policy:` and gateway-lab's
// --policy name them: "lru", "sieve", "s3fifo" or "s3fifo:small=5%:promote=2".
struct PolicySpec {
  PolicyKind kind = PolicyKind::s3fifo;
  // S3-FIFO only: the small queue's share of the bytes, in (0, 1)
  // ("small=10%" or "small=0.1"), the paper's 10% by default.
  double small = 0.10;
  // S3-FIFO only: the hits an entry needs while in the small queue to move
  // to the main queue when it leaves it, 1..3. 1 is the paper's text ("an
  // object accessed at least once while in S"); 2 is its Algorithm 1's
  // "freq > 1" and libCacheSim's default.
  unsigned promote = 1;

  // Equal as policies: the S3-FIFO parameters count only for S3-FIFO.
  friend bool operator==(const PolicySpec& a, const PolicySpec& b) {
    if (a.kind != b.kind) return false;
    return a.kind != PolicyKind::s3fifo || (a.small == b.small && a.promote == b.promote);
  }
};

// Parses a policy spec; nullopt with `error` set (and `*error_at`, if
// given, to the offset in `text` where the fault is) otherwise.
// Parameters are S3-FIFO's only, each at most once, in any order.
std::optional<PolicySpec> parse_policy_spec(std::string_view text, std::string& error,
                                            std::size_t* error_at = nullptr);
// The canonical text: the name, then the S3-FIFO parameters that differ
// from the defaults (small as a percentage when that reads back exactly).
// parse_policy_spec(to_string(s)) == s.
std::string to_string(const PolicySpec& spec);

// `capacity` is the byte budget the policy is sized for (S3-FIFO splits it
// into its small and main queues and sizes its ghost queue from it).
std::unique_ptr<EvictionPolicy> make_policy(const PolicySpec& spec, std::uint64_t capacity);
inline std::unique_ptr<EvictionPolicy> make_policy(PolicyKind kind, std::uint64_t capacity) {
  return make_policy(PolicySpec{kind}, capacity);
}
std::string_view to_string(PolicyKind kind);

}  // namespace gateway::cache
