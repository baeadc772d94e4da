#include "cache/store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "base/hash.hpp"
#include "base/log.hpp"

namespace gateway::cache {

namespace fs = std::filesystem;

namespace {
constexpr std::uint64_t kBlock = 4096;

std::uint64_t charge_for(std::uint64_t file_size) { return (file_size + kBlock - 1) / kBlock * kBlock; }

bool pwrite_all(int fd, std::string_view data, std::uint64_t offset) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

bool pread_all(int fd, char* out, std::size_t n, std::uint64_t offset) {
  while (n > 0) {
    ssize_t r = ::pread(fd, out, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    out += r;
    n -= static_cast<std::size_t>(r);
    offset += static_cast<std::uint64_t>(r);
  }
  return true;
}

Seconds now_seconds() { return static_cast<Seconds>(std::time(nullptr)); }

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

FileRef::~FileRef() {
  if (fd >= 0) ::close(fd);
}

// ---------------------------------------------------------------- EntryWriter

EntryWriter::EntryWriter(Store& store, EntryMeta meta, std::string tmp_path, int fd, std::string meta_bytes)
    : store_(store),
      meta_(std::move(meta)),
      tmp_path_(std::move(tmp_path)),
      fd_(fd),
      reader_(std::make_shared<FileRef>(::dup(fd))),
      meta_bytes_(std::move(meta_bytes)),
      body_offset_(FileHeader::kSize + meta_bytes_.size()),
      keep_memory_(store.options_.memory > 0) {}

EntryWriter::~EntryWriter() {
  if (!done_) abort();
}

bool EntryWriter::write(std::string_view data) {
  if (failed_ || done_) return false;
  if (!pwrite_all(fd_, data, body_offset_ + written_)) {
    failed_ = true;
    store_.stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  crc_ = crc32(crc_, data);
  written_ += data.size();
  if (keep_memory_) {
    if (written_ <= store_.options_.memory_entry_max) {
      memory_.append(data);
    } else {
      keep_memory_ = false;
      std::string().swap(memory_);
    }
  }
  return true;
}

void EntryWriter::abort() {
  if (done_) return;
  done_ = true;
  ::close(fd_);
  ::unlink(tmp_path_.c_str());
}

std::shared_ptr<const Entry> EntryWriter::commit(std::optional<std::uint64_t> expected_size,
                                                 std::shared_ptr<const Entry> replaces) {
  if (done_) return nullptr;
  if (failed_ || (expected_size && *expected_size != written_)) {
    abort();
    return nullptr;
  }
  FileHeader h;
  h.meta_len = static_cast<std::uint32_t>(meta_bytes_.size());
  h.meta_crc = crc32(0, meta_bytes_);
  h.body_len = written_;
  h.body_crc = crc_;
  if (!pwrite_all(fd_, h.encode(), 0)) {
    store_.stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
    abort();
    return nullptr;
  }
  auto e = std::make_shared<Entry>();
  e->id = entry_id(meta_.key, meta_.vary_key);
  meta_.body_size = written_;
  e->meta = std::move(meta_);
  e->vary = VarySpec{e->meta.vary_fields, false};
  e->path = store_.entry_path(e->id);
  e->body_offset = body_offset_;
  e->charged = charge_for(h.file_size());
  e->last_used.store(now_seconds());
  if (keep_memory_) e->body = std::make_shared<const std::string>(std::move(memory_));
  // Only a complete file gets its final name: a crash before this line
  // leaves a temporary file, which the next start-up deletes.
  if (!store_.publish_file(tmp_path_, e->path)) {
    store_.stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
    abort();
    return nullptr;
  }
  done_ = true;
  ::close(fd_);
  store_.stats_.stores.fetch_add(1, std::memory_order_relaxed);
  auto published = store_.insert(e, replaces);
  if (published != e) ::unlink(e->path.c_str());  // lost the race to a newer entry
  return published == e ? published : nullptr;
}

// ---------------------------------------------------------------- Store

Store::Store(StoreOptions options)
    : options_(std::move(options)),
      policy_(make_policy(options_.policy, options_.max_size)),
      first_seq_(static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count())),
      file_seq_(first_seq_) {
  std::error_code ec;
  fs::create_directories(fs::path(options_.path) / "tmp", ec);
  // Temporary files are fills that never completed: never served, gone.
  for (const auto& f : fs::directory_iterator(fs::path(options_.path) / "tmp", ec)) fs::remove(f.path(), ec);
}

Store::~Store() {
  {
    std::lock_guard lock(jobs_mu_);
    stop_ = true;
  }
  jobs_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (auto& [fd, path] : spare_files_) {
    ::close(fd);
    ::unlink(path.c_str());
  }
}

void Store::start() {
  stats_.loading = true;
  started_.store(true, std::memory_order_release);
  thread_ = std::thread([this] { run(); });
}

void Store::wait_loaded() {
  std::unique_lock lock(jobs_mu_);
  loaded_cv_.wait(lock, [this] { return loaded_ || stop_ || !started_.load(); });
}

Store::Shard& Store::shard_of(std::string_view key) { return shards_[hash64(key) % kShards]; }

// File system metadata work (creating a file, a directory) can take a
// millisecond on a busy disk, the whole worker waiting: the background
// thread does it ahead of the fills. It keeps a few empty temporary files
// open for them and, once the loader is done, creates the bucket
// directories a few at a time when it has nothing else to do; a fill that
// finds no spare file or no bucket yet makes its own.
//
// Buckets are two levels, 16 x 256 (nginx's levels=1:2): 4,096 directories,
// about 16 MiB of file system metadata, outside max_size.
std::string Store::bucket(std::uint64_t id) const {
  char dir[8];
  std::snprintf(dir, sizeof dir, "%x/%02x", static_cast<unsigned>(id & 0xf), static_cast<unsigned>((id >> 4) & 0xff));
  return (fs::path(options_.path) / dir).string();
}

std::string Store::entry_path(std::uint64_t id) {
  char name[48];
  std::snprintf(name, sizeof name, "/%016llx-%llx", static_cast<unsigned long long>(id),
                static_cast<unsigned long long>(file_seq_.fetch_add(1)));
  return bucket(id) + name;
}

bool Store::publish_file(const std::string& tmp, const std::string& path) {
  if (::rename(tmp.c_str(), path.c_str()) == 0) return true;
  if (errno != ENOENT) return false;
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  return ::rename(tmp.c_str(), path.c_str()) == 0;
}

void Store::make_buckets(std::uint64_t first, std::uint64_t count) {
  std::error_code ec;
  for (std::uint64_t i = first; i < first + count && i < kBuckets; ++i) fs::create_directories(bucket(i), ec);
}

int Store::new_temp_file(std::string& path) {
  char name[64];
  std::snprintf(name, sizeof name, "tmp/%llx.tmp", static_cast<unsigned long long>(file_seq_.fetch_add(1)));
  path = (fs::path(options_.path) / name).string();
  return ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

int Store::take_temp_file(std::string& path) {
  {
    std::lock_guard lock(spare_mu_);
    if (!spare_files_.empty()) {
      int fd = spare_files_.back().first;
      path = std::move(spare_files_.back().second);
      spare_files_.pop_back();
      if (spare_files_.size() <= kSpareFiles / 2 && !spare_refill_posted_ && started_.load()) {
        spare_refill_posted_ = true;
        post([this] { refill_spare_files(); });
      }
      return fd;
    }
  }
  return new_temp_file(path);
}

void Store::refill_spare_files() {
  for (;;) {
    {
      std::lock_guard lock(spare_mu_);
      if (spare_files_.size() >= kSpareFiles) break;
    }
    std::string path;
    int fd = new_temp_file(path);
    if (fd < 0) break;
    std::lock_guard lock(spare_mu_);
    spare_files_.emplace_back(fd, std::move(path));
  }
  std::lock_guard lock(spare_mu_);
  spare_refill_posted_ = false;
}

std::shared_ptr<const Entry> Store::lookup(std::string_view key, const http::Request& req, Seconds now) {
  std::shared_ptr<const Entry> found;
  {
    auto& sh = shard_of(key);
    std::lock_guard lock(sh.mu);
    auto it = sh.by_key.find(key);
    if (it == sh.by_key.end()) return nullptr;
    for (const auto& e : it->second) {
      if (e->meta.vary_fields.empty() ? e->meta.vary_key.empty() : vary_key(e->vary, req) == e->meta.vary_key) {
        found = e;
        break;
      }
    }
  }
  if (!found) return nullptr;
  found->last_used.store(now, std::memory_order_relaxed);
  std::lock_guard lock(policy_mu_);
  policy_->touch(found->id);
  return found;
}

std::unique_ptr<EntryWriter> Store::begin(EntryMeta meta) {
  std::string tmp;
  int fd = take_temp_file(tmp);
  if (fd < 0) {
    stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  std::string meta_bytes = encode_meta(meta);
  // The header is written last, at commit: until then the file is
  // recognisably incomplete even under its final name.
  if (!pwrite_all(fd, std::string(FileHeader::kSize, '\0') + meta_bytes, 0)) {
    stats_.write_errors.fetch_add(1, std::memory_order_relaxed);
    ::close(fd);
    ::unlink(tmp.c_str());
    return nullptr;
  }
  return std::unique_ptr<EntryWriter>(new EntryWriter(*this, std::move(meta), std::move(tmp), fd, std::move(meta_bytes)));
}

std::shared_ptr<const Entry> Store::insert(std::shared_ptr<Entry> e, const std::shared_ptr<const Entry>& refreshing) {
  std::shared_ptr<const Entry> replaced;
  std::vector<std::shared_ptr<const Entry>> victims;
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
    if (e->body && stats_.memory_bytes + e->body->size() > options_.memory) e->body.reset();  // RAM tier full
    if (e->body) stats_.memory_bytes += e->body->size();
    if (!kept_place) policy_->insert(e->id, e->charged);
    by_id_[e->id] = e;
    stats_.bytes += e->charged;
    stats_.entries++;
    if (replaced) std::replace(variants.begin(), variants.end(), replaced, std::shared_ptr<const Entry>(e));
    else variants.push_back(e);

    while (stats_.bytes > options_.max_size) {
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
  // Victims are out of the policy and by_id_ already; drop() takes them out
  // of their shards and deletes their files.
  drop(victims, stats_.evictions);
  if (replaced && replaced->path != e->path) {
    forget_file(*replaced);
    post([path = replaced->path] { ::unlink(path.c_str()); });
  }
  return e;
}

void Store::drop(const std::vector<std::shared_ptr<const Entry>>& entries, std::atomic<std::uint64_t>& counter) {
  for (const auto& v : entries) {
    {
      auto& sh = shard_of(v->meta.key);
      std::lock_guard shard_lock(sh.mu);
      auto it = sh.by_key.find(v->meta.key);
      if (it != sh.by_key.end()) {
        auto& vs = it->second;
        vs.erase(std::remove(vs.begin(), vs.end(), v), vs.end());
        if (vs.empty()) sh.by_key.erase(it);
      }
      std::lock_guard policy_lock(policy_mu_);
      if (auto b = by_id_.find(v->id); b != by_id_.end() && b->second == v) {
        policy_->erase(v->id);
        stats_.bytes -= v->charged;
        if (v->body) stats_.memory_bytes -= v->body->size();
        stats_.entries--;
        by_id_.erase(b);
      }
    }
    counter.fetch_add(1, std::memory_order_relaxed);
    forget_file(*v);
    post([path = v->path] { ::unlink(path.c_str()); });
  }
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
  e->last_used.store(old->last_used.load());
  // Keep the file open: the rewrite below replaces it, maybe before the
  // caller reads the body.
  e->file = open(*old);
  auto published = insert(e, old);
  if (published != e) return old;  // `old` was replaced or removed meanwhile
  post([this, published] { persist(published); });
  return published;
}

// Rewrites a refreshed entry's file (new metadata, same body) and swaps it
// in, unless the entry changed meanwhile. Until then the old file serves
// the body and, after a restart, its old headers (stale: revalidated again).
void Store::persist(std::shared_ptr<const Entry> e) {
  auto src = open(*e);
  if (!src) return;
  auto w = begin(e->meta);
  if (!w) return;
  std::string buf(256 * 1024, '\0');
  for (std::uint64_t off = 0; off < e->meta.body_size;) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), e->meta.body_size - off));
    if (!pread_all(src->fd, buf.data(), n, e->body_offset + off) || !w->write(std::string_view(buf.data(), n))) return;
    off += n;
  }
  // Published only if `e` is still the indexed entry (insert checks under
  // its locks); otherwise the new file is discarded.
  w->commit(e->meta.body_size, e);
}

std::shared_ptr<FileRef> Store::open(const Entry& e) {
  if (e.file) return e.file;
  {
    std::lock_guard lock(files_mu_);
    if (auto it = open_files_.find(e.path); it != open_files_.end()) return it->second;
  }
  int fd = ::open(e.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  auto ref = std::make_shared<FileRef>(fd);
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
  drop(hits, stats_.purged);
  return hits.size();
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

std::uint64_t Store::disk_usage() const {
  std::uint64_t total = 0;
  std::error_code ec;
  for (const auto& f : fs::recursive_directory_iterator(options_.path, ec))
    if (f.is_regular_file(ec)) total += f.file_size(ec);
  return total;
}

// ---------------------------------------------------------------- background

void Store::post(std::function<void()> job) {
  if (!started_.load(std::memory_order_acquire)) {
    job();  // not started (a tool or a test): do it here
    return;
  }
  {
    std::lock_guard lock(jobs_mu_);
    jobs_.push_back(std::move(job));
  }
  jobs_cv_.notify_one();
}

void Store::run() {
  refill_spare_files();
  load();
  {
    std::lock_guard lock(jobs_mu_);
    loaded_ = true;
  }
  stats_.loading = false;
  loaded_cv_.notify_all();
  std::uint64_t next_bucket = 0;  // buckets are made a few at a time, when idle
  auto next_sweep = std::chrono::steady_clock::now();
  const auto sweep_every = std::chrono::seconds(std::clamp<Seconds>(options_.inactive / 4, 1, 60));
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(jobs_mu_);
      if (next_bucket >= kBuckets) jobs_cv_.wait_until(lock, next_sweep, [this] { return stop_ || !jobs_.empty(); });
      if (stop_) break;
      if (!jobs_.empty()) {
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
    }
    if (job) {
      job();
    } else if (next_bucket < kBuckets) {
      make_buckets(next_bucket, 16);
      next_bucket += 16;
    }
    if (std::chrono::steady_clock::now() >= next_sweep) {
      sweep_inactive(now_seconds());
      next_sweep = std::chrono::steady_clock::now() + sweep_every;
    }
  }
  // Finish pending deletions: an evicted file must not come back at the
  // next start. Jobs run outside the lock: a job may post another.
  for (;;) {
    std::deque<std::function<void()>> jobs;
    {
      std::lock_guard lock(jobs_mu_);
      jobs.swap(jobs_);
    }
    if (jobs.empty()) break;
    for (auto& j : jobs) j();
  }
}

void Store::sweep_inactive(Seconds now) {
  std::vector<std::shared_ptr<const Entry>> idle;
  {
    std::lock_guard lock(policy_mu_);
    for (const auto& [id, e] : by_id_)
      if (now - e->last_used.load(std::memory_order_relaxed) >= options_.inactive) idle.push_back(e);
  }
  if (!idle.empty()) drop(idle, stats_.inactive_removed);
}

// Fills go on while the loader walks the directories: their files, named
// "<id>-<seq>" with seq from this run, are indexed already (or already
// evicted, their deletion queued behind the loader) and are not the
// loader's to index again or to delete.
bool Store::written_since_start(const std::string& name) const {
  auto dash = name.rfind('-');
  if (dash == std::string::npos) return false;
  std::uint64_t seq = 0;
  const char* first = name.data() + dash + 1;
  const char* last = name.data() + name.size();
  auto [end, err] = std::from_chars(first, last, seq, 16);
  return err == std::errc() && end == last && first != last && seq >= first_seq_;
}

void Store::load() {
  std::error_code ec;
  std::vector<std::string> files;
  for (const auto& d1 : fs::directory_iterator(options_.path, ec)) {
    if (!d1.is_directory(ec) || d1.path().filename() == "tmp") continue;
    for (const auto& f : fs::recursive_directory_iterator(d1.path(), ec))
      if (f.is_regular_file(ec) && !written_since_start(f.path().filename().string()))
        files.push_back(f.path().string());
  }
  for (const auto& f : files) {
    {
      std::lock_guard lock(jobs_mu_);
      if (stop_) return;
    }
    if (load_file(f)) {
      stats_.loaded.fetch_add(1, std::memory_order_relaxed);
    } else {
      stats_.load_dropped.fetch_add(1, std::memory_order_relaxed);
      ::unlink(f.c_str());
    }
  }
  if (stats_.loaded || stats_.load_dropped)
    log::info("cache " + options_.path + ": loaded " + std::to_string(stats_.loaded.load()) + " entries, dropped " +
              std::to_string(stats_.load_dropped.load()) + " damaged files");
}

// Checks one file completely (sizes, both checksums) before indexing it; a
// torn, truncated or corrupt file is refused (and then deleted).
bool Store::load_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  FileRef guard(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  std::string head(FileHeader::kSize, '\0');
  if (!pread_all(fd, head.data(), head.size(), 0)) return false;
  auto h = FileHeader::decode(head);
  if (!h || static_cast<std::uint64_t>(st.st_size) != h->file_size()) return false;
  std::string meta_bytes(h->meta_len, '\0');
  if (!pread_all(fd, meta_bytes.data(), meta_bytes.size(), FileHeader::kSize)) return false;
  if (crc32(0, meta_bytes) != h->meta_crc) return false;
  auto meta = decode_meta(meta_bytes);
  if (!meta) return false;

  bool small = options_.memory > 0 && h->body_len <= options_.memory_entry_max;
  std::string body;
  std::uint32_t crc = 0;
  std::string buf(std::min<std::uint64_t>(h->body_len, 1 << 20), '\0');
  for (std::uint64_t off = 0; off < h->body_len;) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), h->body_len - off));
    if (!pread_all(fd, buf.data(), n, h->body_offset() + off)) return false;
    std::string_view piece(buf.data(), n);
    crc = crc32(crc, piece);
    if (small) body.append(piece);
    off += n;
  }
  if (crc != h->body_crc) return false;

  auto e = std::make_shared<Entry>();
  meta->body_size = h->body_len;
  e->id = entry_id(meta->key, meta->vary_key);
  e->meta = std::move(*meta);
  e->vary = VarySpec{e->meta.vary_fields, false};
  e->path = path;
  e->body_offset = h->body_offset();
  e->charged = charge_for(h->file_size());
  e->last_used.store(now_seconds());
  if (small) e->body = std::make_shared<const std::string>(std::move(body));
  {
    // A fill since start-up is newer than the file: keep it.
    auto& sh = shard_of(e->meta.key);
    std::lock_guard lock(sh.mu);
    if (auto it = sh.by_key.find(e->meta.key); it != sh.by_key.end())
      for (const auto& v : it->second)
        if (v->meta.vary_key == e->meta.vary_key) return false;
  }
  insert(std::move(e), nullptr);
  return true;
}

}  // namespace gateway::cache
