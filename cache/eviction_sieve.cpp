// SIEVE (Zhang et al., "SIEVE is simpler than LRU: an efficient turn-key
// eviction algorithm for web caches", NSDI 2024), behind EvictionPolicy:
//
//   - one FIFO queue, new entries at the head, each with a visited bit
//     (cleared on insert);
//   - touch sets the entry's visited bit; nothing moves;
//   - evict: the hand starts where it last stopped (at the tail the first
//     time, or after it passed the head); it moves from the tail towards
//     the head, clearing visited bits, and evicts the first entry whose bit
//     was clear; it then stays at that entry's neighbour towards the head.
//
// As the paper's Figure 1 and libCacheSim's Sieve.c: an entry erased under
// the hand moves the hand one step towards the head first. Sizes only count
// for bytes(): SIEVE evicts by position, whatever the size.
#include <cassert>
#include <list>
#include <unordered_map>

#include "cache/eviction.hpp"

namespace gateway::cache {
namespace {

class SievePolicy final : public EvictionPolicy {
 public:
  void insert(std::uint64_t id, std::uint64_t size) override {
    assert(!index_.contains(id) && "insert of an id already present");
    queue_.push_front({id, size, false});
    index_.emplace(id, queue_.begin());
    bytes_ += size;
  }

  void touch(std::uint64_t id) override {
    if (auto it = index_.find(id); it != index_.end()) it->second->visited = true;
  }

  void erase(std::uint64_t id) override {
    if (auto it = index_.find(id); it != index_.end()) remove(it->second);
  }

  std::optional<std::uint64_t> evict() override {
    if (queue_.empty()) return std::nullopt;
    auto node = start();
    while (node->visited) {
      node->visited = false;
      node = towards_head(node);
    }
    const std::uint64_t victim = node->id;
    hand_ = node;  // remove() leaves the hand at its neighbour towards the head
    remove(node);
    return victim;
  }

  void resize(std::uint64_t) override {}  // no budget inside: the caller evicts

  std::optional<std::uint64_t> victim_hint() const override {
    if (queue_.empty()) return std::nullopt;
    auto first = hand_ == queue_.end() ? std::prev(queue_.end()) : Iter(hand_);
    auto node = first;
    for (int walked = 0; walked < kHintWalk; ++walked) {
      if (!node->visited) return node->id;
      node = node == queue_.begin() ? std::prev(queue_.end()) : std::prev(node);
      if (node == first) break;
    }
    return first->id;  // a full round clears every bit and comes back here
  }

  bool contains(std::uint64_t id) const override { return index_.contains(id); }
  std::uint64_t bytes() const override { return bytes_; }
  std::size_t entries() const override { return index_.size(); }

 private:
  static constexpr int kHintWalk = 16;
  struct Node {
    std::uint64_t id;
    std::uint64_t size;
    bool visited;
  };
  // Front = head (newest), back = tail (oldest).
  using Iter = std::list<Node>::const_iterator;
  using MutIter = std::list<Node>::iterator;

  MutIter start() { return hand_ == queue_.end() ? std::prev(queue_.end()) : hand_; }
  // One step towards the head, past it back to the tail.
  MutIter towards_head(MutIter it) { return it == queue_.begin() ? std::prev(queue_.end()) : std::prev(it); }

  void remove(MutIter node) {
    if (node == hand_) hand_ = node == queue_.begin() ? queue_.end() : std::prev(node);
    bytes_ -= node->size;
    index_.erase(node->id);
    queue_.erase(node);
  }

  std::list<Node> queue_;
  std::unordered_map<std::uint64_t, MutIter> index_;
  MutIter hand_ = queue_.end();  // end(): start at the tail
  std::uint64_t bytes_ = 0;
};

}  // namespace

std::unique_ptr<EvictionPolicy> make_sieve_policy() { return std::make_unique<SievePolicy>(); }

}  // namespace gateway::cache
