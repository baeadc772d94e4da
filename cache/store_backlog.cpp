// The store's deletion backlog (see the disk bound in store.hpp): evicted
// files waiting for deletion, deleted by the background thread and, while
// the disk is past max_size, by the committing fills themselves; a file
// nobody holds is recycled into a spare for the next fill instead of being
// deleted (see recycling in store.hpp).
#include "cache/store.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace gateway::cache {

void Store::retire(Retired r) {
  if (!started_.load(std::memory_order_acquire)) {
    ::unlink(r.path.c_str());  // not started (a tool or a test): at once
    stats_.disk_bytes.fetch_sub(r.charged, std::memory_order_relaxed);
    return;
  }
  stats_.backlog_bytes.fetch_add(r.charged, std::memory_order_relaxed);
  stats_.backlog_files.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(jobs_mu_);
    backlog_.push_back(std::move(r));
  }
  jobs_cv_.notify_one();
}

// Each backlog file has one owner: the thread that takes it out of the
// backlog (the oldest, under jobs_mu_) deletes or recycles it, and no other
// thread touches it. Recycling needs this: when two threads worked on the
// same file by its name, one could empty it (its open(O_TRUNC) had found
// the name just before) after the other had renamed it into a spare that
// the next fill wrote, published and indexed: a live entry truncated, the
// bug behind the revert of 21ee9e9 (store_recycle_race_test). The counts
// drop only once the file is gone or empty, so what disk_bytes says is
// never less than what is there; a thread that stalls midway (a busy
// machine) holds up nobody but its own file: the others take the next ones.
std::uint64_t Store::unlink_backlog(std::size_t files) {
  std::uint64_t freed = 0;
  for (std::size_t i = 0; i < files; ++i) {
    Retired r;
    {
      std::lock_guard lock(jobs_mu_);
      if (backlog_.empty()) break;
      r = std::move(backlog_.front());
      backlog_.pop_front();
    }
    delete_or_recycle(r);
    stats_.disk_bytes.fetch_sub(r.charged, std::memory_order_relaxed);
    stats_.backlog_bytes.fetch_sub(r.charged, std::memory_order_relaxed);
    stats_.backlog_files.fetch_sub(1, std::memory_order_relaxed);
    freed += r.charged;
  }
  return freed;
}

// Expired users cannot come back (nothing holds them to copy from), so a
// file found unheld here stays unheld: nobody reads it while it is
// truncated and rewritten, and no other thread deletes it (see
// unlink_backlog). It is emptied before it moves, so that tmp/ holds only
// fills in flight and empty spares. The descriptor that empties it is
// closed at once: ext4 (auto_da_alloc) flushes a file truncated to nothing
// when a descriptor of it closes, which would otherwise be the next
// fill's, its new bytes written to the disk at each commit; closed empty,
// there is nothing to flush.
bool Store::delete_or_recycle(const Retired& r) {
  std::size_t spares = 0;
  {
    std::lock_guard lock(spare_mu_);
    spares = spare_files_.size();
  }
  const bool held = !r.tracked || !r.users.expired();
  if (retired_file_fate(held, spares, kMaxSpareFiles) == RetiredFate::unlink) {
    ::unlink(r.path.c_str());
    return false;
  }
  int fd = ::open(r.path.c_str(), O_WRONLY | O_CLOEXEC);
  if (recycle_hook_) recycle_hook_(r.path);
  const bool emptied = fd >= 0 && ::ftruncate(fd, 0) == 0;
  if (fd >= 0) ::close(fd);
  std::string tmp = temp_file_name();
  if (!emptied || ::rename(r.path.c_str(), tmp.c_str()) != 0) {
    ::unlink(r.path.c_str());
    return false;
  }
  fd = ::open(tmp.c_str(), O_RDWR | O_CLOEXEC);
  std::lock_guard lock(spare_mu_);
  if (fd < 0 || spare_files_.size() >= kMaxSpareFiles) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return false;
  }
  spare_files_.emplace_back(fd, std::move(tmp));
  stats_.recycled_files.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// Past max_size, the backlog is not empty (the index itself is within
// max_size after insert()): there is a file to delete, or one that another
// thread is deleting.
void Store::keep_within_max_size(std::uint64_t added) {
  std::uint64_t paid = 0;
  while (stats_.disk_bytes.load(std::memory_order_relaxed) > max_size_.load() && paid < added) {
    // 0: none left to take (those left are another thread's, being
    // deleted); waiting for them would only hold this fill's worker.
    auto freed = unlink_backlog(1);
    if (freed == 0) return;
    stats_.inline_unlinks.fetch_add(1, std::memory_order_relaxed);
    paid += freed;
  }
}

}  // namespace gateway::cache
