// The small files of a `static:` route kept in memory (`memory:`), shared
// by its workers. A kept copy is never trusted blindly: every request
// checks the file with one statx(2), and the copy is served only while the
// file is the same version (the same inode, size, mtime and ctime);
// otherwise the file is opened and read again. So a deploy that rewrites
// a file in place, truncates it or renames a new one over it is seen by
// the next request, as without the memory; what it saves is the open,
// fstat, close and sendfile of each request (nginx's open_file_cache keeps
// descriptors and checks them every `open_file_cache_valid`, 60 s by
// default, serving a replaced file until then).
//
// Why a version is enough: ctime is set by the kernel to the current time
// on any change of the file (content, size, mode, links) and cannot be set
// by a user (`touch -d`, `cp -p` and rsync set mtime, not ctime); a new
// file is a new inode or a new ctime. One gap remains, the one git calls
// "racy clean": the kernel's file clock is coarse, so a change in the same
// tick as our read would leave the version as it was. A file changed in the
// last second is therefore served but not kept (keepable()).
//
// Least recently used out first, within the route's `memory` bytes.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace gateway::static_files {

// One version of one file (see the file comment).
struct FileVersion {
  std::uint64_t dev = 0, ino = 0, size = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  bool operator==(const FileVersion&) const = default;
};

FileVersion version_of(const struct stat& st);
FileVersion version_of(const struct statx& stx);

// Files larger than this are never kept: sendfile serves them as well.
inline constexpr std::uint64_t kMemoryFileMax = 64 * 1024;

// Whether a file of version `v` may be kept in a memory of `budget` bytes at
// wall-clock time `now_ns`: no larger than kMemoryFileMax or an eighth of
// the budget, and last changed at least a second before now.
bool keepable(const FileVersion& v, std::uint64_t budget, std::int64_t now_ns);
// The wall clock (CLOCK_REALTIME, the file times' clock) in nanoseconds.
std::int64_t wall_clock_ns();

// A kept file: its bytes and what the response says about them.
struct KeptFile {
  FileVersion version;
  std::string bytes;
  std::string etag;           // as static_files::file_etag
  std::string last_modified;  // an HTTP date
};

class Memory {
 public:
  explicit Memory(std::uint64_t budget) : budget_(budget) {}
  std::uint64_t budget() const { return budget_; }

  // The copy of `rel`, of whatever version (the caller checks it), or null.
  std::shared_ptr<const KeptFile> find(const std::string& rel);
  // Drops the copy of `rel`, if any: the file is no longer that version.
  void forget(const std::string& rel);
  // Keeps `file` as `rel`, dropping the least recently used to stay within
  // the budget (and anything kept before as `rel`).
  void keep(const std::string& rel, std::shared_ptr<const KeptFile> file);
  std::uint64_t bytes() const;
  std::size_t files() const;

 private:
  struct Slot {
    std::shared_ptr<const KeptFile> file;
    std::list<std::string>::iterator lru;
  };
  void drop(std::unordered_map<std::string, Slot>::iterator it);

  const std::uint64_t budget_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Slot> slots_;
  std::list<std::string> lru_;  // most recent first
  std::uint64_t used_ = 0;
};

}  // namespace gateway::static_files
