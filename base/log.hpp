// The error log: one line per event on stderr, with a UTC timestamp and a
// level, as nginx's error_log. Any thread may log; a line is written with a
// single write(2) so lines from different threads never interleave.
//
// Under systemd, when stderr is a journal stream (JOURNAL_STREAM names
// stderr's device and inode, as systemd.exec(5) says to check), each line
// starts with its syslog priority instead of the timestamp ("<3>" for
// error, "<4>" warn, "<6>" info: sd-daemon.h's SD_ERR, SD_WARNING, SD_INFO),
// so journald files it at that priority and stamps it itself.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <string>
#include <string_view>

namespace gateway::log {

enum class Level { info, warn, error };

// Whether JOURNAL_STREAM's value ("DEVICE:INODE", decimal) names the file
// with this device and inode; false for null or anything else.
inline bool journal_stream_names(const char* value, dev_t dev, ino_t ino) {
  if (value == nullptr) return false;
  unsigned long long d = 0, i = 0;
  int end = 0;
  if (std::sscanf(value, "%llu:%llu%n", &d, &i, &end) != 2 || value[end] != '\0') return false;
  return d == static_cast<unsigned long long>(dev) && i == static_cast<unsigned long long>(ino);
}

// Whether stderr goes to journald; decided once per process.
inline bool stderr_is_journal() {
  static const bool journal = [] {
    struct stat st {};
    if (::fstat(STDERR_FILENO, &st) != 0) return false;
    return journal_stream_names(std::getenv("JOURNAL_STREAM"), st.st_dev, st.st_ino);
  }();
  return journal;
}

// One line of the log, with its '\n': "2026-12-06T10:45:00Z [warn] message",
// or "<4>[warn] message" for journald.
inline std::string format_line(Level level, std::string_view message, std::time_t now, bool journal) {
  static constexpr const char* kNames[] = {"info", "warn", "error"};
  static constexpr const char* kPriorities[] = {"<6>", "<4>", "<3>"};
  std::string line;
  line.reserve(message.size() + 48);
  if (journal) {
    line.append(kPriorities[static_cast<int>(level)]);
  } else {
    char stamp[32];
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    line.append(stamp).push_back(' ');
  }
  line.append("[").append(kNames[static_cast<int>(level)]).append("] ");
  line.append(message).push_back('\n');
  return line;
}

inline void write(Level level, std::string_view message) {
  std::string line = format_line(level, message, std::time(nullptr), stderr_is_journal());
  ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

// A co_spawn completion handler that logs an escaped exception (a bug)
// with what the coroutine was doing.
inline auto on_exception(const char* what) {
  return [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      write(Level::error, std::string(what) + " failed: " + ex.what());
    } catch (...) {
      write(Level::error, std::string(what) + " failed");
    }
  };
}

inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }
inline void error(std::string_view m) { write(Level::error, m); }

}  // namespace gateway::log
