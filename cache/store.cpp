// The store's index (see store.hpp): lookup, publishing and replacing
// entries with their eviction and byte accounting, removal, the open-file
// cache, purges and the inactive sweep. Called from any worker (the sweep
// from the background thread) under the locks store.hpp orders: a shard's
// mutex, then the policy mutex. The entry files, the background thread and
// the loader are store_files.cpp's.
#include "cache/store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <optional>

#include "base/hash.hpp"
#include "cache/coded.hpp"

namespace gateway::cache {

namespace {
// "GET<sep>host<sep>/path?query[<sep>...]" -> host, target.
std::pair<std::string_view, std::string_view> url_parts(std::string_view key) {
  auto a = key.find(kKeySeparator);
  if (a == std::string_view::npos) return {};
  auto b = key.find(kKeySeparator, a + 1);
  if (b == std::string_view::npos) return {};
  auto c = key.find(kKeySeparator, b + 1);
  return {key.substr(a + 1, b - a - 1), key.substr(b + 1, c == std::string_view::npos ? c : c - b - 1)};
}
}  // namespace

Store::Shard& Store::shard_of(std::string_view key) { return shards_[hash64(key) % kShards]; }

void Store::count_request(std::string_view key) {
  if (admission_kind_.load(std::memory_order_relaxed) == AdmissionKind::none) return;
  std::lock_guard lock(admission_mu_);
  admission_->seen(hash64(key));
}

bool Store::admit(const EntryMeta& meta) {
  const AdmissionKind kind = admission_kind_.load(std::memory_order_relaxed);
  if (kind == AdmissionKind::none) return true;
  AdmissionRoom room;
  if (kind == AdmissionKind::tinylfu) {
    std::lock_guard lock(policy_mu_);
    room.full = admission_full(stats_.bytes.load(), max_size_.load());
    if (auto victim = policy_->victim_hint()) {
      if (auto it = by_id_.find(*victim); it != by_id_.end()) room.victim = hash64(it->second->meta.key);
    }
  }
  std::lock_guard lock(admission_mu_);
  return admission_->admit(hash64(meta.key), room);
}

std::shared_ptr<const Entry> Store::lookup(std::string_view key, const http::Request& req, Seconds now,
                                           bool for_admission) {
  if (for_admission) count_request(key);
  auto found = find(key, req);
  if (found) use(*found, now);
  return found;
}

std::shared_ptr<const Entry> Store::find(std::string_view key, const http::Request& req) {
  auto& sh = shard_of(key);
  std::lock_guard lock(sh.mu);
  auto it = sh.by_key.find(key);
  if (it == sh.by_key.end()) return nullptr;
  for (const auto& e : it->second)
    if (vary_matches(e->vary, e->meta.vary_key, req)) return e;
  return nullptr;
}

void Store::use(const Entry& e, Seconds now) {
  e.last_used.store(now, std::memory_order_relaxed);
  std::lock_guard lock(policy_mu_);
  policy_->touch(e.id);
}

std::shared_ptr<const Entry> Store::insert(std::shared_ptr<Entry> e, const std::shared_ptr<const Entry>& refreshing) {
  std::shared_ptr<const Entry> replaced;
  std::vector<std::shared_ptr<const Entry>> victims;
  bool replaced_unindexed = false;  // insert took `replaced` out of by_id_: its file is insert's to retire
  auto& sh = shard_of(e->meta.key);
  {
    std::lock_guard shard_lock(sh.mu);
    std::lock_guard policy_lock(policy_mu_);
    auto& variants = sh.by_key[e->meta.key];
    for (auto& v : variants) {
      if (v->meta.vary_key == e->meta.vary_key) {
        replaced = v;
        break;
      }
    }
    if (refreshing) {
      // A refresh applies only to the entry it was made for: if that was
      // replaced, purged or evicted meanwhile, the index stays as it is.
      auto it = by_id_.find(refreshing->id);
      if (replaced != refreshing || it == by_id_.end() || it->second != refreshing) {
        if (variants.empty()) sh.by_key.erase(e->meta.key);
        return replaced ? replaced : refreshing;
      }
    }
    // The id may also be held by another key (a 64-bit collision): that
    // entry goes too.
    if (auto it = by_id_.find(e->id); it != by_id_.end() && it->second != replaced) {
      const auto& c = it->second;
      policy_->erase(c->id);
      stats_.bytes -= c->charged;
      if (c->body) stats_.memory_bytes -= c->body->size();
      stats_.entries--;
      victims.push_back(c);
      by_id_.erase(it);
    }

    bool kept_place = false;
    if (replaced && by_id_.count(replaced->id)) {
      replaced_unindexed = true;
      stats_.bytes -= replaced->charged;
      if (replaced->body) stats_.memory_bytes -= replaced->body->size();
      if (refreshing && replaced->id == e->id) {
        kept_place = true;  // same object, new headers: keeps its eviction state
      } else {
        policy_->erase(replaced->id);
      }
      by_id_.erase(replaced->id);
      stats_.entries--;
    }
    if (e->body && stats_.memory_bytes + e->body->size() > memory_.load()) e->body.reset();  // RAM tier full
    if (e->body) stats_.memory_bytes += e->body->size();
    if (!kept_place) policy_->insert(e->id, e->charged);
    by_id_[e->id] = e;
    stats_.bytes += e->charged;
    // A refresh made by refresh() keeps its predecessor's file: no new bytes on disk.
    if (!(replaced && replaced->path == e->path)) stats_.disk_bytes += e->charged;
    stats_.entries++;
    if (replaced) std::replace(variants.begin(), variants.end(), replaced, std::shared_ptr<const Entry>(e));
    else variants.push_back(e);

    // Past max_size, down to the low-water mark: the background thread then
    // deletes a batch while the next fills commit into the room it frees.
    const std::uint64_t bytes = stats_.bytes.load();
    const std::uint64_t max_size = max_size_.load();
    if (bytes > max_size) evict_down_to(max_size - headroom_.load(), victims);
  }
  // Victims are out of the policy and by_id_ already; drop() takes them out
  // of their shards and retires their files. The store lets go of them
  // before their files are retired: a file nobody holds can be recycled.
  std::optional<Retired> replaced_file;
  if (replaced && replaced->path != e->path) {
    forget_file(*replaced);
    if (replaced_unindexed) replaced_file = retired_of(*replaced);
    drop_coded(*replaced, stats_.evictions);  // made from the body just replaced
  }
  replaced.reset();
  drop(std::move(victims), stats_.evictions, true);
  if (replaced_file) retire(std::move(*replaced_file));
  return e;
}

void Store::evict_down_to(std::uint64_t low_water, std::vector<std::shared_ptr<const Entry>>& victims) {
  while (stats_.bytes > low_water) {
    auto victim = policy_->evict();
    if (!victim) break;
    auto it = by_id_.find(*victim);
    if (it == by_id_.end()) continue;
    victims.push_back(it->second);
    stats_.bytes -= it->second->charged;
    if (it->second->body) stats_.memory_bytes -= it->second->body->size();
    stats_.entries--;
    by_id_.erase(it);
  }
}

void Store::drop(std::vector<std::shared_ptr<const Entry>> entries, std::atomic<std::uint64_t>& counter,
                 bool unindexed) {
  std::vector<Retired> files;
  for (const auto& v : entries) {
    bool mine = unindexed;
    bool found = unindexed;  // a variant dropped with its entry may come again: counted once
    {
      auto& sh = shard_of(v->meta.key);
      std::lock_guard shard_lock(sh.mu);
      auto it = sh.by_key.find(v->meta.key);
      if (it != sh.by_key.end()) {
        auto& vs = it->second;
        const auto before = vs.size();
        vs.erase(std::remove(vs.begin(), vs.end(), v), vs.end());
        found = found || vs.size() != before;
        if (vs.empty()) sh.by_key.erase(it);
      }
      std::lock_guard policy_lock(policy_mu_);
      if (auto b = by_id_.find(v->id); b != by_id_.end() && b->second == v) {
        policy_->erase(v->id);
        stats_.bytes -= v->charged;
        if (v->body) stats_.memory_bytes -= v->body->size();
        stats_.entries--;
        by_id_.erase(b);
        mine = true;
      }
    }
    if (found || mine) counter.fetch_add(1, std::memory_order_relaxed);
    forget_file(*v);
    if (mine) files.push_back(retired_of(*v));
    drop_coded(*v, counter);
  }
  entries.clear();  // the store's own holds on them go first (see recycling in store.hpp)
  for (auto& f : files) retire(std::move(f));
}

void Store::drop_coded(const Entry& base, std::atomic<std::uint64_t>& counter) {
  if (is_coded_key(base.meta.key)) return;
  std::vector<std::shared_ptr<const Entry>> coded;
  for (auto coding : kCodings) {
    const auto key = coded_key(base.meta.key, coding);
    auto& sh = shard_of(key);
    std::lock_guard shard_lock(sh.mu);
    if (auto it = sh.by_key.find(key); it != sh.by_key.end())
      for (const auto& v : it->second)
        if (v->meta.vary_key == base.meta.vary_key) coded.push_back(v);
  }
  if (!coded.empty()) drop(std::move(coded), counter);
}

void Store::remove(const std::shared_ptr<const Entry>& e) {
  static std::atomic<std::uint64_t> ignored{0};
  drop({e}, ignored);
}

std::shared_ptr<const Entry> Store::refresh(const std::shared_ptr<const Entry>& old, EntryMeta meta) {
  auto e = std::make_shared<Entry>();
  e->id = old->id;
  meta.body_size = old->meta.body_size;
  e->meta = std::move(meta);
  e->vary = VarySpec{e->meta.vary_fields, false};
  e->path = old->path;
  e->body_offset = old->body_offset;
  e->charged = old->charged;
  e->body = old->body;
  e->users = old->users;
  e->last_used.store(old->last_used.load());
  // Keep the file open: the rewrite below replaces it, maybe before the
  // caller reads the body.
  e->file = open(*old);
  auto published = insert(e, old);
  if (published != e) return old;  // `old` was replaced or removed meanwhile
  post([this, published] { persist(published); });
  return published;
}

std::shared_ptr<FileRef> Store::open(const Entry& e) {
  if (e.file) return e.file;
  {
    std::lock_guard lock(files_mu_);
    if (auto it = open_files_.find(e.path); it != open_files_.end()) return it->second;
  }
  int fd = ::open(e.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  auto ref = std::make_shared<FileRef>(fd, e.users);
  {
    // Cache only the descriptors of indexed entries: one kept for an entry
    // already removed would hold its disk space.
    std::lock_guard policy_lock(policy_mu_);
    auto it = by_id_.find(e.id);
    if (it == by_id_.end() || it->second->path != e.path) return ref;
  }
  std::lock_guard lock(files_mu_);
  if (open_files_.size() >= options_.max_open_files && !open_order_.empty()) {
    open_files_.erase(open_order_.front());
    open_order_.pop_front();
  }
  if (open_files_.emplace(e.path, ref).second) open_order_.push_back(e.path);
  return ref;
}

void Store::forget_file(const Entry& e) {
  std::lock_guard lock(files_mu_);
  // Leave open_order_ alone: a stale path in it only frees nothing later.
  open_files_.erase(e.path);
}

std::size_t Store::purge_if(const std::function<bool(const Entry&)>& pred) {
  std::vector<std::shared_ptr<const Entry>> hits;
  for (auto& sh : shards_) {
    std::lock_guard lock(sh.mu);
    for (const auto& [key, variants] : sh.by_key)
      for (const auto& e : variants)
        if (pred(*e)) hits.push_back(e);
  }
  const std::size_t n = hits.size();
  drop(std::move(hits), stats_.purged);
  return n;
}

std::size_t Store::purge_url(std::string_view url_key) {
  return purge_if([&](const Entry& e) {
    std::string_view k = e.meta.key;
    return k == url_key || (k.size() > url_key.size() && k.substr(0, url_key.size()) == url_key &&
                            k[url_key.size()] == kKeySeparator);
  });
}

std::size_t Store::purge_prefix(std::string_view host, std::string_view path_prefix, bool exact) {
  return purge_if([&](const Entry& e) {
    auto [h, target] = url_parts(e.meta.key);
    if (!host.empty() && h != host) return false;
    return exact ? target == path_prefix : target.substr(0, path_prefix.size()) == path_prefix;
  });
}

std::size_t Store::purge_tag(std::string_view tag) {
  return purge_if([&](const Entry& e) {
    for (const auto& t : e.meta.tags)
      if (t == tag) return true;
    return false;
  });
}

void Store::sweep_inactive(Seconds now) {
  std::vector<std::shared_ptr<const Entry>> idle;
  {
    std::lock_guard lock(policy_mu_);
    for (const auto& [id, e] : by_id_)
      if (now - e->last_used.load(std::memory_order_relaxed) >= inactive_.load()) idle.push_back(e);
  }
  if (!idle.empty()) drop(std::move(idle), stats_.inactive_removed);
}

}  // namespace gateway::cache
