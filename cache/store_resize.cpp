// Store::resize (see store.hpp): a reload's new limits applied to a live
// store. Called on the main thread while the workers use the store; takes
// the locks in store.hpp's order (a shard's mutex, then the policy mutex).
#include <algorithm>
#include <tuple>
#include <utility>

#include "cache/store.hpp"

namespace gateway::cache {

namespace {
// `e` without its RAM copy: the index swaps it in, readers holding `e` keep
// theirs.
std::shared_ptr<Entry> without_body(const Entry& e) {
  auto c = std::make_shared<Entry>();
  c->id = e.id;
  c->meta = e.meta;
  c->vary = e.vary;
  c->path = e.path;
  c->body_offset = e.body_offset;
  c->charged = e.charged;
  c->file = e.file;
  c->users = e.users;
  c->last_used.store(e.last_used.load(std::memory_order_relaxed), std::memory_order_relaxed);
  return c;
}
}  // namespace

StoreOptions Store::options() const {
  StoreOptions o = options_;
  o.max_size = max_size_.load();
  o.memory = memory_.load();
  o.memory_entry_max = memory_entry_max_.load();
  {
    std::lock_guard lock(spec_mu_);
    o.policy = policy_spec_;
    o.admission = admission_spec_;
  }
  o.inactive = inactive_.load();
  return o;
}

void Store::resize(const StoreOptions& next) {
  // New fills follow the new limits from here on.
  memory_entry_max_ = next.memory_entry_max;
  memory_ = next.memory;
  inactive_ = next.inactive;
  max_size_ = next.max_size;
  headroom_ = headroom_for(next.max_size);
  shrink_memory(next.memory, next.memory_entry_max);
  PolicySpec policy_was;
  AdmissionSpec admission_was;
  {
    std::lock_guard lock(spec_mu_);
    policy_was = std::exchange(policy_spec_, next.policy);
    admission_was = std::exchange(admission_spec_, next.admission);
  }
  if (!(next.admission == admission_was)) {
    auto fresh = make_admission(next.admission, next.max_size);
    std::lock_guard lock(admission_mu_);
    admission_ = std::move(fresh);
    admission_kind_ = next.admission.kind;
  }
  std::vector<std::shared_ptr<const Entry>> victims;
  {
    std::lock_guard lock(policy_mu_);
    if (!(next.policy == policy_was)) rebuild_policy(next.policy, next.max_size);
    else policy_->resize(next.max_size);
    if (stats_.bytes > next.max_size) evict_down_to(next.max_size - headroom_.load(), victims);
  }
  drop(std::move(victims), stats_.evictions, true);
}

// Which RAM copies go is not the policy's order: a shrink is rare, and the
// entries stay on disk.
void Store::shrink_memory(std::uint64_t memory, std::uint64_t entry_max) {
  for (auto& sh : shards_) {
    std::lock_guard shard_lock(sh.mu);
    std::lock_guard policy_lock(policy_mu_);
    for (auto& [key, variants] : sh.by_key) {
      for (auto& v : variants) {
        if (!v->body) continue;
        if (v->body->size() <= entry_max && stats_.memory_bytes <= memory) continue;
        auto it = by_id_.find(v->id);
        if (it == by_id_.end() || it->second != v) continue;
        auto c = without_body(*v);
        stats_.memory_bytes -= v->body->size();
        it->second = c;
        v = c;
      }
    }
  }
}

void Store::rebuild_policy(const PolicySpec& spec, std::uint64_t capacity) {
  std::vector<std::tuple<Seconds, std::uint64_t, std::uint64_t>> order;  // last use, id, size
  order.reserve(by_id_.size());
  for (const auto& [id, e] : by_id_) order.emplace_back(e->last_used.load(std::memory_order_relaxed), id, e->charged);
  std::sort(order.begin(), order.end());
  auto policy = make_policy(spec, capacity);
  for (const auto& [used, id, size] : order) policy->insert(id, size);
  policy_ = std::move(policy);
}

}  // namespace gateway::cache
