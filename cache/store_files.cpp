// The store's entry files (see store.hpp): writing a new entry to a
// temporary file and publishing it complete, file names and bucket
// directories, the spare temporary files, rewriting a refreshed entry, and
// the background thread with its jobs and the start-up loader.
// EntryWriter runs on the worker of its fill; the background thread does
// the slow disk work. The index itself is store.cpp's; the deletion
// backlog and the recycling of evicted files store_backlog.cpp's.
#include "cache/store.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "base/log.hpp"
#include "cache/clock.hpp"

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
}  // namespace

long temp_file_owner(std::string_view name) {
  auto dash = name.find('-');
  if (dash == std::string_view::npos || dash == 0) return 0;
  long pid = 0;
  auto [end, err] = std::from_chars(name.data(), name.data() + dash, pid);
  return err == std::errc() && end == name.data() + dash && pid > 0 ? pid : 0;
}

bool temp_file_orphaned(std::string_view name) {
  long pid = temp_file_owner(name);
  if (pid <= 0) return true;
  if (pid == static_cast<long>(::getpid())) return true;  // an earlier process that had this pid
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

FileRef::~FileRef() {
  if (fd >= 0) ::close(fd);
}

// ---------------------------------------------------------------- EntryWriter

EntryWriter::EntryWriter(Store& store, EntryMeta meta, std::string tmp_path, int fd, std::string meta_bytes)
    : store_(store),
      meta_(std::move(meta)),
      tmp_path_(std::move(tmp_path)),
      fd_(fd),
      users_(std::make_shared<char>()),
      reader_(std::make_shared<FileRef>(::dup(fd), users_)),
      meta_bytes_(std::move(meta_bytes)),
      body_offset_(FileHeader::kSize + meta_bytes_.size()),
      keep_memory_(store.memory_.load(std::memory_order_relaxed) > 0),
      in_flight_bytes_(body_offset_) {
  store_.stats_.writing.fetch_add(1, std::memory_order_relaxed);
  store_.stats_.writing_bytes.fetch_add(in_flight_bytes_, std::memory_order_relaxed);
}

EntryWriter::~EntryWriter() {
  if (!done_) abort();
}

void EntryWriter::leave_flight() {
  store_.stats_.writing.fetch_sub(1, std::memory_order_relaxed);
  store_.stats_.writing_bytes.fetch_sub(in_flight_bytes_, std::memory_order_relaxed);
  in_flight_bytes_ = 0;
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
  in_flight_bytes_ += data.size();
  store_.stats_.writing_bytes.fetch_add(data.size(), std::memory_order_relaxed);
  if (keep_memory_) {
    if (written_ <= store_.memory_entry_max_.load(std::memory_order_relaxed)) {
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
  leave_flight();
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
  e->users = users_;
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
  // The file counts as in flight until the disk is back within max_size.
  else store_.keep_within_max_size(e->charged);
  leave_flight();
  return published == e ? published : nullptr;
}

// ---------------------------------------------------------------- Store

Store::Store(StoreOptions options)
    : options_(std::move(options)),
      max_size_(options_.max_size),
      memory_(options_.memory),
      memory_entry_max_(options_.memory_entry_max),
      headroom_(headroom_for(options_.max_size)),
      inactive_(options_.inactive),
      policy_spec_(options_.policy),
      admission_spec_(options_.admission),
      policy_(make_policy(options_.policy, options_.max_size)),
      admission_kind_(options_.admission.kind),
      admission_(make_admission(options_.admission, options_.max_size)),
      first_seq_(static_cast<std::uint64_t>(std::chrono::system_clock::now().time_since_epoch().count())),
      file_seq_(first_seq_),
      buckets_(buckets_for(options_.max_size)) {
  std::error_code ec;
  fs::create_directories(fs::path(options_.path) / "tmp", ec);
  // Temporary files are fills that never completed: never served, gone;
  // but not those of a process still running (the one this binary
  // upgrade replaces, still serving): see temp_file_owner.
  for (const auto& f : fs::directory_iterator(fs::path(options_.path) / "tmp", ec))
    if (temp_file_orphaned(f.path().filename().string())) fs::remove(f.path(), ec);
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

// File system metadata work (creating a file, a directory) can take a
// millisecond on a busy disk, the whole worker waiting: the background
// thread does it ahead of the fills. It keeps a few empty temporary files
// open for them and, once the loader is done, creates the bucket
// directories a few at a time when it has nothing else to do; a fill that
// finds no spare file or no bucket yet makes its own.
//
// Buckets scale with the zone, a few hundred files each at most when full
// of small entries: 16 directories ("a/") below 64 MiB, 16 x 16 ("a/b/")
// below 1 GiB, else 16 x 256 ("a/bc/", nginx's levels=1:2; 4,096
// directories, about 16 MiB of file system metadata, outside max_size).
// The loader walks every directory whatever its depth, so entries written
// under another layout (the zone resized) are found and served where they
// are.
std::uint64_t Store::buckets_for(std::uint64_t max_size) {
  if (max_size < (64ull << 20)) return 16;
  if (max_size < (1ull << 30)) return 16 * 16;
  return 16 * 256;
}

// A sixty-fourth of the zone, in whole blocks (none for zones under
// 256 KiB, which evict exactly), at most 64 MiB.
std::uint64_t eviction_low_water(std::uint64_t max_size) {
  return max_size - std::min<std::uint64_t>(max_size / 64 / kBlock * kBlock, 64ull << 20);
}

bool admission_full(std::uint64_t bytes, std::uint64_t max_size) {
  return bytes + kBlock > eviction_low_water(max_size);
}

std::uint64_t Store::headroom_for(std::uint64_t max_size) { return max_size - eviction_low_water(max_size); }

std::string Store::bucket(std::uint64_t id) const {
  char dir[8];
  const auto a = static_cast<unsigned>(id & 0xf);
  if (buckets_ == 16) std::snprintf(dir, sizeof dir, "%x", a);
  else if (buckets_ == 16 * 16) std::snprintf(dir, sizeof dir, "%x/%x", a, static_cast<unsigned>((id >> 4) & 0xf));
  else std::snprintf(dir, sizeof dir, "%x/%02x", a, static_cast<unsigned>((id >> 4) & 0xff));
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
  for (std::uint64_t i = first; i < first + count && i < buckets_; ++i) fs::create_directories(bucket(i), ec);
}

std::string Store::temp_file_name() {
  char name[64];
  std::snprintf(name, sizeof name, "tmp/%ld-%llx.tmp", static_cast<long>(::getpid()),
                static_cast<unsigned long long>(file_seq_.fetch_add(1)));
  return (fs::path(options_.path) / name).string();
}

int Store::new_temp_file(std::string& path) {
  path = temp_file_name();
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) stats_.files_created.fetch_add(1, std::memory_order_relaxed);
  return fd;
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

std::unique_ptr<EntryWriter> Store::begin(EntryMeta meta, Refusal* why) {
  Refusal ignored;
  Refusal& refusal = why ? *why : ignored;
  if (!admit(meta)) {
    stats_.admission_refused.fetch_add(1, std::memory_order_relaxed);
    refusal = Refusal::admission;
    return nullptr;
  }
  return begin_file(std::move(meta), refusal);
}

std::unique_ptr<EntryWriter> Store::begin_file(EntryMeta meta, Refusal& refusal) {
  refusal = Refusal::none;
  if (refuse_for_backlog(stats_.disk_bytes.load(std::memory_order_relaxed),
                         stats_.writing_bytes.load(std::memory_order_relaxed),
                         stats_.backlog_files.load(std::memory_order_relaxed), max_size_.load())) {
    stats_.backlog_refused.fetch_add(1, std::memory_order_relaxed);
    refusal = Refusal::disk_backlog;
    return nullptr;
  }
  refusal = Refusal::write_failed;
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
  refusal = Refusal::none;
  return std::unique_ptr<EntryWriter>(new EntryWriter(*this, std::move(meta), std::move(tmp), fd, std::move(meta_bytes)));
}

// Rewrites a refreshed entry's file (new metadata, same body) and swaps it
// in, unless the entry changed meanwhile. Until then the old file serves
// the body and, after a restart, its old headers (stale: revalidated again).
void Store::persist(std::shared_ptr<const Entry> e) {
  auto src = open(*e);
  if (!src) return;
  Refusal refusal;
  auto w = begin_file(e->meta, refusal);
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
  for (;;) {
    std::function<void()> job;
    bool deletions = false;
    {
      std::unique_lock lock(jobs_mu_);
      if (next_bucket >= buckets_)
        jobs_cv_.wait_until(lock, next_sweep, [this] { return stop_ || !jobs_.empty() || !backlog_.empty(); });
      if (stop_) break;
      deletions = !backlog_.empty();
      if (!deletions && !jobs_.empty()) {
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
    }
    // Deletions first: until they are done their files fill the disk and
    // hold new fills back (see the disk bound in store.hpp).
    if (deletions) {
      unlink_backlog(std::numeric_limits<std::size_t>::max());
    } else if (job) {
      job();
    } else if (next_bucket < buckets_) {
      make_buckets(next_bucket, 16);
      next_bucket += 16;
    }
    if (std::chrono::steady_clock::now() >= next_sweep) {
      sweep_inactive(now_seconds());
      // `inactive` may change at a reload (resize()): read it each time.
      next_sweep = std::chrono::steady_clock::now() + std::chrono::seconds(std::clamp<Seconds>(inactive_.load() / 4, 1, 60));
    }
  }
  // Finish pending deletions: an evicted file must not come back at the
  // next start. Jobs run outside the lock: a job may post another.
  for (;;) {
    unlink_backlog(std::numeric_limits<std::size_t>::max());
    std::deque<std::function<void()>> jobs;
    {
      std::lock_guard lock(jobs_mu_);
      jobs.swap(jobs_);
      if (jobs.empty() && backlog_.empty()) break;
    }
    for (auto& j : jobs) j();
  }
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
      // What loading evicted (more on disk than max_size) goes at once.
      unlink_backlog(std::numeric_limits<std::size_t>::max());
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

  bool small = memory_.load() > 0 && h->body_len <= memory_entry_max_.load();
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
  e->users = std::make_shared<char>();
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
