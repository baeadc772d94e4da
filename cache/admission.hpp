// Admission: whether a storable response is worth a place in the zone at
// all, before eviction has to make room for it. A zone's `admission:` and
// gateway-lab's --admission name the rule: "none", "min_uses:N" or
// "tinylfu".
//
//   none        every storable response is stored.
//   min_uses:N  nginx's proxy_cache_min_uses: a response is stored once its
//               key has been requested N times, counting this request
//               (N = 1: always). nginx counts per key in its keys zone and
//               forgets a count after `inactive`; here the counts are exact
//               for a bounded number of keys, the least recently requested
//               forgotten first (see min_uses_capacity). A key forgotten
//               starts again from 0. A stored key keeps its count, so a
//               request after its entry was evicted stores it again at once
//               if the count was not forgotten meanwhile.
//   tinylfu     TinyLFU (Einziger et al., "TinyLFU: A Highly Efficient Cache
//               Admission Policy", ACM TOS 2017): a Count-Min sketch of
//               4-bit counters in 4 rows in front of a doorkeeper (a Bloom
//               filter that absorbs each key's first request), all halved
//               (the doorkeeper cleared) every W = 10 x expected entries
//               requests, expected entries = capacity_bytes / 4 KiB. A
//               candidate is admitted while the zone has room; when it is
//               full, if its estimated frequency is higher than that of the
//               eviction policy's next victim (TinyLFU's rule; W-TinyLFU's
//               window is the eviction policy's business, e.g. S3-FIFO's
//               small queue). With no victim known (admit(key) alone), the
//               rule is "estimate >= 2": requested at least once before.
//
// Keys are hash64(cache key) (base/hash.hpp), the key hash of the trace
// format. Objects are not thread-safe: the store calls one under its own
// mutex, the lab from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace gateway::cache {

enum class AdmissionKind { none, min_uses, tinylfu };

struct AdmissionSpec {
  AdmissionKind kind = AdmissionKind::none;
  unsigned min_uses = 1;  // min_uses only: 1..64

  // Equal as rules: min_uses counts only for min_uses.
  friend bool operator==(const AdmissionSpec& a, const AdmissionSpec& b) {
    return a.kind == b.kind && (a.kind != AdmissionKind::min_uses || a.min_uses == b.min_uses);
  }
};

// What the candidate would displace: whether the zone is full (the new
// entry needs an eviction) and the key hash of the eviction policy's next
// victim, if known.
struct AdmissionRoom {
  bool full = true;
  std::optional<std::uint64_t> victim;
};

class Admission {
 public:
  virtual ~Admission() = default;
  // Every request's lookup of the key (hit or miss).
  virtual void seen(std::uint64_t key) = 0;
  // A storable response for the key is about to be stored: true to store it.
  // The same as admit(key, AdmissionRoom{}) (full, victim unknown).
  virtual bool admit(std::uint64_t key) = 0;
  // As above, knowing the room (only tinylfu looks at it).
  virtual bool admit(std::uint64_t key, const AdmissionRoom& room) {
    (void)room;
    return admit(key);
  }
};

// Parses "none", "min_uses:N" (N in 1..64) or "tinylfu"; nullopt with
// `error` set (and `*error_at` to the offset of the fault) otherwise.
std::optional<AdmissionSpec> parse_admission_spec(std::string_view text, std::string& error,
                                                  std::size_t* error_at = nullptr);
// The canonical text: parse_admission_spec(to_string(s)) == s.
std::string to_string(const AdmissionSpec& spec);

// `capacity_bytes` sizes the bookkeeping (see the header comment); null for
// AdmissionKind::none is never returned: "none" admits everything.
std::unique_ptr<Admission> make_admission(const AdmissionSpec& spec, std::uint64_t capacity_bytes);

// The number of keys min_uses:N counts exactly: capacity_bytes / 4 KiB (the
// most entries the zone can hold), at least 1,024.
std::uint64_t min_uses_capacity(std::uint64_t capacity_bytes);

}  // namespace gateway::cache
