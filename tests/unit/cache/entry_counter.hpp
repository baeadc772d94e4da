// Counts the entry files in a cache zone's bucket directories exactly, from
// inotify events in the order they happened (a file renamed or created in,
// a file deleted or renamed out). A walk of the directories is no snapshot:
// on a busy machine it counts files deleted after it passed them and
// created before it reached them, so a bound checked on walks fails for
// the walk's sake. Used by the store's disk-bound test and the gateway's
// (tests/integration/disk_bound_test.cpp).
#pragma once

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace gateway::cache::testing {

class EntryCounter {
 public:
  // Watches every directory under `zone` but tmp/ (fills in flight), as
  // they are now: call it once the bucket directories exist.
  explicit EntryCounter(const std::string& zone) : fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    if (fd_ < 0) return;
    for (const auto& d : std::filesystem::directory_iterator(zone))
      if (d.is_directory() && d.path().filename() != "tmp" &&
          inotify_add_watch(fd_, d.path().c_str(), IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM) >= 0)
        ++dirs_;
  }
  ~EntryCounter() {
    if (fd_ >= 0) ::close(fd_);
  }
  EntryCounter(const EntryCounter&) = delete;
  EntryCounter& operator=(const EntryCounter&) = delete;

  bool ok() const { return fd_ >= 0; }
  int dirs() const { return dirs_; }  // directories watched
  // Reads the events queued so far; false if the queue ever overflowed
  // (the counts are then not exact).
  bool poll() {
    alignas(inotify_event) char buf[64 * 1024];
    for (;;) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) return !overflow_;
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        if (ev->mask & IN_Q_OVERFLOW) overflow_ = true;
        if (ev->mask & (IN_MOVED_TO | IN_CREATE)) peak_ = std::max(peak_, ++now_);
        if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) --now_;
        p += sizeof(inotify_event) + ev->len;
      }
    }
  }
  long now() const { return now_; }    // entry files now (as of the last poll)
  long peak() const { return peak_; }  // the most there were at once

 private:
  int fd_;
  int dirs_ = 0;
  long now_ = 0, peak_ = 0;
  bool overflow_ = false;
};

}  // namespace gateway::cache::testing
