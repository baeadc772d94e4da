// The disk store of one cache zone: entry files in hashed bucket
// directories (as many as the zone's size calls for), the in-memory index
// shared by all workers, the RAM tier for small entries, the open-file
// cache, eviction and the start-up loader.
//
// Threads: lookup/begin/commit/purge are called from any worker. The index
// is sharded by key hash, each shard under its own mutex; the eviction
// policy and byte accounting sit under one more mutex, always taken after a
// shard's (never before), so the two never deadlock. The admission rule
// (cache/admission.hpp) has a mutex of its own, taken alone, and the specs
// in force another, also alone. One background thread
// per store does the slow disk work: loading entries at start-up, removing
// (or recycling: see below) evicted files, persisting refreshed headers, sweeping inactive entries and
// creating files and directories ahead of the fills. The jobs mutex (its
// queue and the deletion backlog) is taken alone, never with another.
//
// Disk bound: the files of evicted, replaced and purged entries wait in a
// backlog for the background thread, and until then still fill the disk.
// Bytes on disk (disk_bytes) = indexed files + that backlog; the fills in
// flight (temporary files) are counted apart (writing_bytes). Eviction runs
// down to a low-water mark (max_size - headroom) so that the background
// thread has a batch to delete while the next fills commit. Two rules keep
// the disk within max_size plus the fills in flight, however far behind
// the background thread falls on a busy machine:
//   - begin() refuses a new fill (null, Refusal::disk_backlog) while files
//     wait for deletion and disk_bytes plus the fills in flight already
//     reach max_size: the response is served, not stored;
//   - a commit that takes disk_bytes past max_size deletes backlog files
//     itself (at most as many bytes as it added) before it returns.
//
// No HTTP decisions are made here: callers decide what to store and when an
// entry is fresh (cache/policy.hpp).
//
// Implemented in two parts: store.cpp (the index: lookup, insert, eviction,
// purges, the open-file cache) and store_files.cpp (entry files, the
// background thread and the start-up loader).
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cache/admission.hpp"
#include "cache/entry.hpp"
#include "cache/eviction.hpp"

namespace gateway::cache {

struct StoreOptions {
  std::string path;
  std::uint64_t max_size = 1ull << 30;
  std::uint64_t memory = 64ull << 20;
  std::uint64_t memory_entry_max = 64 << 10;
  PolicySpec policy;
  AdmissionSpec admission;
  Seconds inactive = 600;
  std::size_t max_open_files = 4096;  // descriptors kept open for hits
};

struct StoreStats {
  std::atomic<std::uint64_t> entries{0};
  std::atomic<std::uint64_t> bytes{0};         // charged against max_size
  // Bytes of entry files on disk: `bytes` plus the backlog of files removed
  // from the index and not deleted yet (all in 4 KiB blocks).
  std::atomic<std::uint64_t> disk_bytes{0};
  std::atomic<std::uint64_t> backlog_bytes{0};
  std::atomic<std::uint64_t> backlog_files{0};
  // Fills in flight: their temporary files and the bytes written to them.
  std::atomic<std::uint64_t> writing{0};
  std::atomic<std::uint64_t> writing_bytes{0};
  std::atomic<std::uint64_t> backlog_refused{0};  // fills not stored: the backlog held the disk full
  std::atomic<std::uint64_t> inline_unlinks{0};   // backlog files a committing fill deleted itself
  std::atomic<std::uint64_t> recycled_files{0};   // backlog files truncated into spares instead of deleted
  std::atomic<std::uint64_t> files_created{0};    // new temporary files (spare or not)
  std::atomic<std::uint64_t> admission_refused{0};  // fills not stored: the admission rule said no
  std::atomic<std::uint64_t> memory_bytes{0};  // bodies held in RAM
  std::atomic<std::uint64_t> stores{0};
  std::atomic<std::uint64_t> evictions{0};
  std::atomic<std::uint64_t> inactive_removed{0};
  std::atomic<std::uint64_t> purged{0};
  std::atomic<std::uint64_t> write_errors{0};
  std::atomic<std::uint64_t> loaded{0};        // entries found on disk at start-up
  std::atomic<std::uint64_t> load_dropped{0};  // torn, truncated or corrupt files removed
  std::atomic<bool> loading{false};
};

// An open descriptor, closed when the last user lets go. `users` is the
// file's Entry::users: while a FileRef lives, its file is not recycled.
struct FileRef {
  int fd = -1;
  std::shared_ptr<const void> users;
  explicit FileRef(int f, std::shared_ptr<const void> u = nullptr) : fd(f), users(std::move(u)) {}
  ~FileRef();
  FileRef(const FileRef&) = delete;
  FileRef& operator=(const FileRef&) = delete;
};

// Eviction, once a zone of `max_size` bytes is over it, runs down to this
// low-water mark (max_size minus a headroom: a sixty-fourth of the zone in
// whole 4 KiB blocks, none under 256 KiB, at most 64 MiB). gateway-lab
// evicts the same way.
std::uint64_t eviction_low_water(std::uint64_t max_size);

// Whether a zone of `max_size` holding `bytes` is full for admission
// (AdmissionRoom::full): one more 4 KiB block would pass the eviction
// low-water mark. Once a zone has filled up it stays full, its bytes
// moving between the low-water mark and max_size.
bool admission_full(std::uint64_t bytes, std::uint64_t max_size);

// The disk bound's admission rule (see above): a new fill is refused while
// files wait for deletion and the disk, with the fills in flight, is at
// max_size already.
constexpr bool refuse_for_backlog(std::uint64_t disk_bytes, std::uint64_t writing_bytes, std::uint64_t backlog_files,
                                  std::uint64_t max_size) {
  return backlog_files > 0 && disk_bytes + writing_bytes >= max_size;
}

// Recycling: a file leaving the deletion backlog is, if nobody holds it
// (no Entry object of it, no FileRef on it: Entry::users has expired) and
// the spare pool has room, truncated to nothing and renamed into tmp/ as a
// spare for the next fill, instead of being unlinked while the next fill
// creates a new file. Under churn (every fill evicting) creating a file for
// each fill cost more than the fill itself: ext4's inode allocator slows
// down as deleted inodes pile up. A file somebody holds (a hit still
// sending it, a reader following a fill) is unlinked as before: its bytes
// stay as they are until its last descriptor closes.
enum class RetiredFate { recycle, unlink };
constexpr RetiredFate retired_file_fate(bool held, std::size_t spares, std::size_t max_spares) {
  return !held && spares < max_spares ? RetiredFate::recycle : RetiredFate::unlink;
}

// Temporary files are named "tmp/<pid>-<seq>.tmp": the pid of the process
// writing it. At a binary upgrade two processes share the directory for a
// while, and the new one's start-up must not delete the old one's fills in
// flight: only files of a process that is gone (or of no process: an older
// name) are removed. The owner's pid, or 0 if the name has none.
long temp_file_owner(std::string_view file_name);
bool temp_file_orphaned(std::string_view file_name);

class Store;

// A new entry being written: body bytes stream in; it becomes visible only
// when committed complete. Destroying an uncommitted writer discards it.
class EntryWriter {
 public:
  ~EntryWriter();
  EntryWriter(const EntryWriter&) = delete;
  EntryWriter& operator=(const EntryWriter&) = delete;

  // False after an I/O error (disk full...): the entry is abandoned and
  // further writes are ignored; the caller keeps serving its client.
  bool write(std::string_view data);
  // Publishes the entry; null if writing failed or `expected_size` (when
  // known) does not match what was written.
  // `replaces`: a refresh of that entry (same object, new headers), which
  // keeps its eviction state and is published only if `replaces` is still
  // the indexed entry.
  std::shared_ptr<const Entry> commit(std::optional<std::uint64_t> expected_size = std::nullopt,
                                      std::shared_ptr<const Entry> replaces = nullptr);
  void abort();

  std::uint64_t written() const noexcept { return written_; }
  // For readers following the fill: the file (shared, stays valid after
  // commit or abort) and where the body starts in it.
  std::shared_ptr<FileRef> reader() const { return reader_; }
  std::uint64_t body_offset() const noexcept { return body_offset_; }

 private:
  friend class Store;
  EntryWriter(Store& store, EntryMeta meta, std::string tmp_path, int fd, std::string meta_bytes);
  // Ends this fill's share of the in-flight counters.
  void leave_flight();

  Store& store_;
  EntryMeta meta_;
  std::string tmp_path_;
  int fd_;
  std::shared_ptr<const void> users_;  // the new entry's Entry::users
  std::shared_ptr<FileRef> reader_;
  std::string meta_bytes_;
  std::uint64_t body_offset_;
  std::uint64_t written_ = 0;
  std::uint32_t crc_ = 0;
  std::string memory_;  // a copy of the body while it is small enough for the RAM tier
  bool keep_memory_;
  std::uint64_t in_flight_bytes_ = 0;  // counted in the store's writing_bytes
  bool failed_ = false;
  bool done_ = false;
};

class Store {
 public:
  explicit Store(StoreOptions options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Starts the background thread: it loads what is already on disk (serving
  // goes on meanwhile) and then maintains the store.
  void start();
  // Waits until the start-up load finished (for tests and tools).
  void wait_loaded();

  // The options in force: as built, then as the last resize() set them.
  StoreOptions options() const;

  // A reload's new limits for this zone (`max_size`, `memory`,
  // `memory_entry_max`, `policy`, `admission`, `inactive`; the path stays),
  // applied at once: the entries are kept, evicted down to the new size (the
  // low-water mark) if it shrank, and RAM copies are let go down to the new
  // memory and memory_entry_max. A policy change (its kind or its
  // parameters) rebuilds the eviction order from the entries' last use
  // (least recent first); an admission change starts a fresh rule (counts
  // and sketch start from zero). Any thread; store_resize.cpp.
  void resize(const StoreOptions& next);
  const StoreStats& stats() const noexcept { return stats_; }
  // Test seam (tests only, set before start()): called with the path of a
  // retired file that a thread is about to empty for recycling, between
  // opening it and truncating it, so that a test can run other work there.
  void set_recycle_hook(std::function<void(const std::string&)> hook) { recycle_hook_ = std::move(hook); }

  // The variant of `key` whose Vary fields match `req`, or null. Counts as
  // a use for eviction and `inactive`, and (unless `for_admission` is
  // false) as a request of the key for the admission rule.
  std::shared_ptr<const Entry> lookup(std::string_view key, const http::Request& req, Seconds now,
                                      bool for_admission = true);
  // The same variant, with no use recorded: for a caller that may decline
  // it (the RAM tier's fast path) and then calls use() if it serves it. A
  // lookup that declines must not count: the request goes on to the full
  // lookup, and two uses per request would rank the entry above what the
  // policy (and gateway-lab's replay of it) says.
  std::shared_ptr<const Entry> find(std::string_view key, const http::Request& req);
  void use(const Entry& e, Seconds now);
  // A request of `key` for the admission rule (after a lookup that did not
  // count it).
  void count_request(std::string_view key);

  // Why begin() returned null.
  enum class Refusal { none, write_failed, disk_backlog, admission };
  // Starts writing a new entry; null if the admission rule refuses it, no
  // temporary file can be created or the disk is full of files waiting for
  // deletion (see the disk bound above); `why`, if given, says which.
  // Admission weighs hash64(meta.key), with the room as admission_full()
  // says and the policy's victim_hint() as the victim.
  std::unique_ptr<EntryWriter> begin(EntryMeta meta, Refusal* why = nullptr);

  // After a 304: the same body under updated metadata (head, times,
  // freshness). Takes effect at once; the file is rewritten in the
  // background. If `old` is no longer the indexed entry (replaced, purged,
  // evicted), nothing changes and `old` is returned.
  std::shared_ptr<const Entry> refresh(const std::shared_ptr<const Entry>& old, EntryMeta meta);

  // A descriptor on the entry's file (cached by path while the entry is
  // indexed and there is room); null if the file is gone.
  std::shared_ptr<FileRef> open(const Entry& e);

  // Removes every entry whose key is `url_key` or starts with it followed by
  // kKeySeparator (all variants and extra key parts of a URL).
  std::size_t purge_url(std::string_view url_key);
  // Removes entries whose URL starts with `path_prefix` (or equals it, if
  // `exact`) on `host` (empty host: any host). The path is compared with
  // the key's target as stored (query normalised per the route's rule).
  std::size_t purge_prefix(std::string_view host, std::string_view path_prefix, bool exact = false);
  std::size_t purge_tag(std::string_view tag);
  // Removes one entry (e.g. its file turned out unreadable).
  void remove(const std::shared_ptr<const Entry>& e);

 private:
  friend class EntryWriter;
  static constexpr std::size_t kShards = 16;
  // Keys are looked up by string_view, without building a std::string.
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const noexcept { return std::hash<std::string_view>{}(k); }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<std::shared_ptr<const Entry>>, KeyHash, std::equal_to<>> by_key;
  };

  Shard& shard_of(std::string_view key);
  // Publishes e (replacing the variant with the same Vary key), charges it,
  // decides its RAM-tier place and evicts as needed. With `refreshing`, e
  // is that entry under new headers: it keeps its eviction state, and it is
  // published only if `refreshing` is still indexed. Returns what the index
  // holds for the variant afterwards (e, unless the refresh lost).
  std::shared_ptr<const Entry> insert(std::shared_ptr<Entry> e, const std::shared_ptr<const Entry>& refreshing);
  // Removes entries from the index (if still the ones indexed) and queues
  // their files for deletion. `unindexed`: insert() took them out of the
  // policy and by_id_ already (eviction victims). Whoever takes an entry
  // out of by_id_ retires its file, so that a file is retired once.
  void drop(std::vector<std::shared_ptr<const Entry>> entries, std::atomic<std::uint64_t>& counter,
            bool unindexed = false);
  // Drops the coded variants made from `base` (cache/coded.hpp), if any.
  void drop_coded(const Entry& base, std::atomic<std::uint64_t>& counter);
  // A file waiting in the deletion backlog, with what it is charged and,
  // if `tracked`, its Entry::users (see recycling above).
  struct Retired {
    std::string path;
    std::uint64_t charged = 0;
    std::weak_ptr<const void> users;
    bool tracked = false;
  };
  static Retired retired_of(const Entry& e) { return Retired{e.path, e.charged, e.users, e.users != nullptr}; }
  // The deletion backlog (see the disk bound above).
  void retire(Retired r);
  // Deletes (or recycles) up to `files` backlog files, oldest first;
  // returns the bytes this call took out of the backlog.
  std::uint64_t unlink_backlog(std::size_t files);
  // Deletes the backlog file `r` or recycles it into a spare (see
  // recycling above); true if recycled.
  bool delete_or_recycle(const Retired& r);
  // After a commit that added `added` bytes: deletes backlog files itself
  // while disk_bytes is past max_size (at most `added` bytes' worth).
  void keep_within_max_size(std::uint64_t added);

  // Under policy_mu_: evicts until bytes are at or below `low_water`,
  // taking the victims out of the policy and by_id_ (into `victims`).
  void evict_down_to(std::uint64_t low_water, std::vector<std::shared_ptr<const Entry>>& victims);
  // resize(): lets go of RAM copies over `memory` or `entry_max`.
  void shrink_memory(std::uint64_t memory, std::uint64_t entry_max);
  // resize(), under policy_mu_: a new policy of `spec` holding every
  // indexed entry, least recently used first.
  void rebuild_policy(const PolicySpec& spec, std::uint64_t capacity);
  // begin() without admission (persist() rewrites an entry already stored).
  std::unique_ptr<EntryWriter> begin_file(EntryMeta meta, Refusal& refusal);
  // The admission rule's say on a new fill of `meta` (see begin()).
  bool admit(const EntryMeta& meta);

  std::size_t purge_if(const std::function<bool(const Entry&)>& pred);
  std::string bucket(std::uint64_t id) const;
  static std::uint64_t buckets_for(std::uint64_t max_size);
  static std::uint64_t headroom_for(std::uint64_t max_size);
  std::string entry_path(std::uint64_t id);
  bool publish_file(const std::string& tmp, const std::string& path);
  void make_buckets(std::uint64_t first, std::uint64_t count);
  std::string temp_file_name();
  int new_temp_file(std::string& path);
  int take_temp_file(std::string& path);
  void refill_spare_files();
  void forget_file(const Entry& e);

  void run();  // the background thread
  void load();
  bool load_file(const std::string& path);
  bool written_since_start(const std::string& file_name) const;
  void sweep_inactive(Seconds now);
  void persist(std::shared_ptr<const Entry> e);
  void post(std::function<void()> job);

  StoreOptions options_;  // path and max_open_files; the limits below are resize()'s
  StoreStats stats_;
  // The limits resize() changes, read without a lock.
  std::atomic<std::uint64_t> max_size_;
  std::atomic<std::uint64_t> memory_;
  std::atomic<std::uint64_t> memory_entry_max_;
  std::atomic<std::uint64_t> headroom_;  // eviction runs down to max_size - headroom
  std::atomic<Seconds> inactive_;
  mutable std::mutex spec_mu_;  // the specs in force, for options()
  PolicySpec policy_spec_;
  AdmissionSpec admission_spec_;
  std::array<Shard, kShards> shards_;

  std::mutex policy_mu_;
  std::unique_ptr<EvictionPolicy> policy_;
  std::unordered_map<std::uint64_t, std::shared_ptr<const Entry>> by_id_;

  std::atomic<AdmissionKind> admission_kind_;  // of admission_: none skips its mutex
  std::mutex admission_mu_;
  std::unique_ptr<Admission> admission_;

  std::mutex files_mu_;
  std::unordered_map<std::string, std::shared_ptr<FileRef>> open_files_;  // by path
  std::deque<std::string> open_order_;

  // File names end in a sequence number that starts at the wall clock in
  // nanoseconds: a name at or past first_seq_ was written by this process,
  // which the start-up loader must leave alone.
  const std::uint64_t first_seq_;
  std::atomic<std::uint64_t> file_seq_;

  // 16, 256 or 4,096 (see bucket()), from max_size at start: a resize keeps
  // it (entries name their file; the loader walks every bucket).
  const std::uint64_t buckets_;
  // Empty temporary files, open, ready for fills (see take_temp_file).
  static constexpr std::size_t kSpareFiles = 16;
  // At most this many spares, recycled ones included (each an open
  // descriptor on an empty file).
  static constexpr std::size_t kMaxSpareFiles = 256;
  std::function<void(const std::string&)> recycle_hook_;  // see set_recycle_hook
  std::mutex spare_mu_;
  std::vector<std::pair<int, std::string>> spare_files_;
  bool spare_refill_posted_ = false;

  std::mutex jobs_mu_;
  std::condition_variable jobs_cv_;
  std::deque<std::function<void()>> jobs_;
  std::deque<Retired> backlog_;  // files to delete, oldest first
  bool stop_ = false;
  bool loaded_ = false;
  std::atomic<bool> started_{false};
  std::condition_variable loaded_cv_;
  std::thread thread_;
};

}  // namespace gateway::cache
