#include "gateway/static_memory.hpp"

#include <sys/sysmacros.h>

#include <ctime>

namespace gateway::static_files {

namespace {
std::int64_t nanoseconds(std::int64_t sec, std::int64_t nsec) { return sec * 1'000'000'000 + nsec; }
}  // namespace

FileVersion version_of(const struct stat& st) {
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::uint64_t>(st.st_size), nanoseconds(st.st_mtim.tv_sec, st.st_mtim.tv_nsec),
          nanoseconds(st.st_ctim.tv_sec, st.st_ctim.tv_nsec)};
}

FileVersion version_of(const struct statx& stx) {
  return {static_cast<std::uint64_t>(makedev(stx.stx_dev_major, stx.stx_dev_minor)), stx.stx_ino, stx.stx_size,
          nanoseconds(stx.stx_mtime.tv_sec, stx.stx_mtime.tv_nsec),
          nanoseconds(stx.stx_ctime.tv_sec, stx.stx_ctime.tv_nsec)};
}

std::int64_t wall_clock_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  return nanoseconds(now.tv_sec, now.tv_nsec);
}

bool keepable(const FileVersion& v, std::uint64_t budget, std::int64_t now_ns) {
  constexpr std::int64_t kSettled = 1'000'000'000;
  if (v.size > kMemoryFileMax || v.size > budget / 8) return false;
  return v.ctime_ns <= now_ns - kSettled && v.mtime_ns <= now_ns - kSettled;
}

std::shared_ptr<const KeptFile> Memory::find(const std::string& rel) {
  std::lock_guard lock(mutex_);
  auto it = slots_.find(rel);
  if (it == slots_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.file;
}

void Memory::forget(const std::string& rel) {
  std::lock_guard lock(mutex_);
  if (auto it = slots_.find(rel); it != slots_.end()) drop(it);
}

void Memory::keep(const std::string& rel, std::shared_ptr<const KeptFile> file) {
  const std::uint64_t size = file->bytes.size();
  if (size > budget_) return;
  std::lock_guard lock(mutex_);
  if (auto it = slots_.find(rel); it != slots_.end()) drop(it);
  while (used_ + size > budget_ && !lru_.empty()) drop(slots_.find(lru_.back()));
  lru_.push_front(rel);
  slots_.emplace(rel, Slot{std::move(file), lru_.begin()});
  used_ += size;
}

void Memory::drop(std::unordered_map<std::string, Slot>::iterator it) {
  used_ -= it->second.file->bytes.size();
  lru_.erase(it->second.lru);
  slots_.erase(it);
}

std::uint64_t Memory::bytes() const {
  std::lock_guard lock(mutex_);
  return used_;
}

std::size_t Memory::files() const {
  std::lock_guard lock(mutex_);
  return slots_.size();
}

}  // namespace gateway::static_files
