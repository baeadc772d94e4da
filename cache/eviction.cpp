// Eviction policies: LRU, S3-FIFO and SIEVE behind EvictionPolicy (their
// specs' text: eviction_spec.cpp).
//
// Single-threaded data structures without locks: the disk store calls one
// under its index shard's mutex, the hit-rate replay tool from one thread.
// The caller evicts "while bytes() > capacity", so evict() must return a
// victim whenever entries() > 0; every policy guarantees that.
#include "cache/eviction.hpp"

#include <algorithm>
#include <cassert>
#include <iterator>
#include <list>
#include <unordered_map>

namespace gateway::cache {
namespace {

// ---------------------------------------------------------------------------
// LRU: a recency list (front = most recently inserted or touched) and a map
// from id to its node. Every operation is O(1); a hit splices its node to the
// front, which is exactly the reordering S3-FIFO avoids.
class LruPolicy final : public EvictionPolicy {
 public:
  void insert(std::uint64_t id, std::uint64_t size) override {
    assert(!index_.contains(id) && "insert of an id already present");
    order_.push_front({id, size});
    index_.emplace(id, order_.begin());
    bytes_ += size;
  }

  void touch(std::uint64_t id) override {
    if (auto it = index_.find(id); it != index_.end()) {
      order_.splice(order_.begin(), order_, it->second);
    }
  }

  void erase(std::uint64_t id) override {
    if (auto it = index_.find(id); it != index_.end()) remove(it);
  }

  std::optional<std::uint64_t> evict() override {
    if (order_.empty()) return std::nullopt;
    const std::uint64_t victim = order_.back().id;
    remove(index_.find(victim));
    return victim;
  }

  void resize(std::uint64_t) override {}  // no budget inside: the caller evicts

  std::optional<std::uint64_t> victim_hint() const override {
    if (order_.empty()) return std::nullopt;
    return order_.back().id;
  }

  bool contains(std::uint64_t id) const override { return index_.contains(id); }
  std::uint64_t bytes() const override { return bytes_; }
  std::size_t entries() const override { return index_.size(); }

 private:
  struct Node {
    std::uint64_t id;
    std::uint64_t size;
  };
  using Index = std::unordered_map<std::uint64_t, std::list<Node>::iterator>;

  void remove(Index::iterator it) {
    bytes_ -= it->second->size;
    order_.erase(it->second);
    index_.erase(it);
  }

  std::list<Node> order_;
  Index index_;
  std::uint64_t bytes_ = 0;
};

// ---------------------------------------------------------------------------
// S3-FIFO, following Yang et al., "FIFO queues are all you need for cache
// eviction", SOSP 2023, and its reference implementation (libCacheSim,
// cache/eviction/S3FIFO.c and S3FIFOv0.c, the "original implementation used
// in the paper"):
//
//   - S (small) gets `small` of the byte budget (10% by default), M (main)
//     the rest; G (ghost) remembers ids, not data, of entries evicted from S.
//   - insert: to M if the id is in G (and it leaves G), else to S; freq = 0.
//   - touch: freq = min(freq + 1, 3). Nothing moves: hits stay cheap.
//   - evict: from S if S holds >= its share (or M is empty), else from M.
//   - evictS: the tail of S moves to the head of M if freq >= `promote`,
//     with freq cleared as it moves (libCacheSim re-inserts it as a new
//     object); otherwise the tail is the victim and its id goes to G.
//     Repeat until a victim is found. promote = 1 (the default) is the
//     paper's text, "accessed at least once"; promote = 2 is its Algorithm
//     1's "if t.freq > 1" and libCacheSim's move-to-main-threshold=2.
//   - evictM: the tail of M with freq > 0 goes back to the head with
//     freq - 1; otherwise it is the victim.
//
// Choices of ours, where the paper leaves room or our interface differs:
//   - Sizes are bytes: S's share is small x capacity bytes, and G is bounded
//     in bytes by M's share (capacity minus S's), counting each id as the
//     size it had (at least 1, so zero-sized entries cannot grow G without
//     bound). This is libCacheSim's byte-sized ghost FIFO; with equal sizes
//     it equals the paper's "as many ghost entries as M holds".
//   - evict() returns exactly one victim. Algorithm 1 calls evictM from
//     evictS when a promotion fills M; we do not, so M may exceed its share
//     for a while, and later calls take from M once S is below its share.
//     If evictS promotes every entry of S without finding a victim, the call
//     goes on to evictM, so a call never comes back empty while entries
//     remain. evictM ends within 3 passes over M (freq <= 3 and each
//     reinsertion spends one), i.e. O(1) amortized per touch.
//   - erase() of a present entry forgets it without a ghost (it was not an
//     eviction); erase() of an id only G remembers is a no-op, like any id
//     that is not present.
class S3FifoPolicy final : public EvictionPolicy {
 public:
  S3FifoPolicy(std::uint64_t capacity, double small, unsigned promote)
      : small_(small), promote_(static_cast<std::uint8_t>(std::clamp(promote, 1u, unsigned{kMaxFreq}))) {
    size_queues(capacity);
  }

  void insert(std::uint64_t id, std::uint64_t size) override {
    assert(!index_.contains(id) && "insert of an id already present");
    Queue queue = Queue::small;
    if (auto ghost = ghost_index_.find(id); ghost != ghost_index_.end()) {
      forget_ghost(ghost);
      queue = Queue::main;
    }
    list(queue).push_front({id, size, 0, queue});
    index_.emplace(id, list(queue).begin());
    queue_bytes(queue) += size;
  }

  void touch(std::uint64_t id) override {
    if (auto it = index_.find(id); it != index_.end()) {
      Node& node = *it->second;
      node.freq = std::min<std::uint8_t>(node.freq + 1, kMaxFreq);
    }
  }

  void erase(std::uint64_t id) override {
    if (auto it = index_.find(id); it != index_.end()) remove(it);
  }

  std::optional<std::uint64_t> evict() override {
    if (index_.empty()) return std::nullopt;
    if (small_bytes_ >= small_share_ || main_queue_.empty()) {
      if (auto victim = evict_small()) return victim;
    }
    return evict_main();
  }

  void resize(std::uint64_t capacity) override {
    size_queues(capacity);
    while (ghost_bytes_ > ghost_capacity_) forget_ghost(ghost_index_.find(ghost_.back().id));
  }

  std::optional<std::uint64_t> victim_hint() const override {
    if (index_.empty()) return std::nullopt;
    if (small_bytes_ >= small_share_ || main_queue_.empty()) {
      if (auto id = first_below(small_queue_, promote_)) return id;
    }
    if (auto id = first_below(main_queue_, 1)) return id;
    return main_queue_.empty() ? small_queue_.back().id : main_queue_.back().id;
  }

  bool contains(std::uint64_t id) const override { return index_.contains(id); }
  std::uint64_t bytes() const override { return small_bytes_ + main_bytes_; }
  std::size_t entries() const override { return index_.size(); }

 private:
  static constexpr std::uint8_t kMaxFreq = 3;  // the paper's 2-bit counter

  enum class Queue : std::uint8_t { small, main };
  struct Node {
    std::uint64_t id;
    std::uint64_t size;
    std::uint8_t freq;
    Queue queue;
  };
  // Front = head (newest), back = tail (next to leave). Nodes move between
  // S and M with splice, so the iterators in index_ stay valid.
  using Index = std::unordered_map<std::uint64_t, std::list<Node>::iterator>;
  struct Ghost {
    std::uint64_t id;
    std::uint64_t cost;
  };
  using GhostIndex = std::unordered_map<std::uint64_t, std::list<Ghost>::iterator>;

  static constexpr int kHintWalk = 16;  // victim_hint looks this far from a tail

  void size_queues(std::uint64_t capacity) {
    small_share_ = static_cast<std::uint64_t>(static_cast<double>(capacity) * small_);
    ghost_capacity_ = capacity - std::min(small_share_, capacity);
  }

  // The first of the last kHintWalk nodes of `q` (from the tail) with freq
  // below `threshold`.
  static std::optional<std::uint64_t> first_below(const std::list<Node>& q, std::uint8_t threshold) {
    int walked = 0;
    for (auto it = q.rbegin(); it != q.rend() && walked < kHintWalk; ++it, ++walked)
      if (it->freq < threshold) return it->id;
    return std::nullopt;
  }

  std::list<Node>& list(Queue q) { return q == Queue::small ? small_queue_ : main_queue_; }
  std::uint64_t& queue_bytes(Queue q) {
    return q == Queue::small ? small_bytes_ : main_bytes_;
  }

  std::optional<std::uint64_t> evict_small() {
    while (!small_queue_.empty()) {
      Node& tail = small_queue_.back();
      if (tail.freq >= promote_) {
        tail.freq = 0;
        tail.queue = Queue::main;
        small_bytes_ -= tail.size;
        main_bytes_ += tail.size;
        main_queue_.splice(main_queue_.begin(), small_queue_, std::prev(small_queue_.end()));
        continue;
      }
      const std::uint64_t victim = tail.id;
      remember_ghost(victim, tail.size);
      remove(index_.find(victim));
      return victim;
    }
    return std::nullopt;
  }

  std::uint64_t evict_main() {
    for (;;) {
      assert(!main_queue_.empty());
      Node& tail = main_queue_.back();
      if (tail.freq > 0) {
        --tail.freq;
        main_queue_.splice(main_queue_.begin(), main_queue_, std::prev(main_queue_.end()));
        continue;
      }
      const std::uint64_t victim = tail.id;
      remove(index_.find(victim));
      return victim;
    }
  }

  void remove(Index::iterator it) {
    const Queue queue = it->second->queue;
    queue_bytes(queue) -= it->second->size;
    list(queue).erase(it->second);
    index_.erase(it);
  }

  void remember_ghost(std::uint64_t id, std::uint64_t size) {
    assert(!ghost_index_.contains(id));
    const std::uint64_t cost = std::max<std::uint64_t>(size, 1);
    ghost_.push_front({id, cost});
    ghost_index_.emplace(id, ghost_.begin());
    ghost_bytes_ += cost;
    while (ghost_bytes_ > ghost_capacity_) {
      forget_ghost(ghost_index_.find(ghost_.back().id));
    }
  }

  void forget_ghost(GhostIndex::iterator it) {
    ghost_bytes_ -= it->second->cost;
    ghost_.erase(it->second);
    ghost_index_.erase(it);
  }

  const double small_;
  const std::uint8_t promote_;
  std::uint64_t small_share_ = 0;
  std::uint64_t ghost_capacity_ = 0;
  std::list<Node> small_queue_;
  std::list<Node> main_queue_;
  Index index_;
  std::uint64_t small_bytes_ = 0;
  std::uint64_t main_bytes_ = 0;
  std::list<Ghost> ghost_;
  GhostIndex ghost_index_;
  std::uint64_t ghost_bytes_ = 0;
};

}  // namespace

std::unique_ptr<EvictionPolicy> make_sieve_policy();

std::unique_ptr<EvictionPolicy> make_policy(const PolicySpec& spec, std::uint64_t capacity) {
  switch (spec.kind) {
    case PolicyKind::lru:
      return std::make_unique<LruPolicy>();
    case PolicyKind::s3fifo:
      return std::make_unique<S3FifoPolicy>(capacity, spec.small, spec.promote);
    case PolicyKind::sieve:
      return make_sieve_policy();
  }
  assert(false && "unknown PolicyKind");
  return nullptr;
}

}  // namespace gateway::cache
