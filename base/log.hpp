// The error log: one line per event on stderr, with a UTC timestamp and a
// level, as nginx's error_log. Any thread may log; a line is written with a
// single write(2) so lines from different threads never interleave.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <exception>
#include <string>
#include <string_view>

namespace gateway::log {

enum class Level { info, warn, error };

inline void write(Level level, std::string_view message) {
  static constexpr const char* kNames[] = {"info", "warn", "error"};
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string line;
  line.reserve(message.size() + 48);
  line.append(stamp).append(" [").append(kNames[static_cast<int>(level)]).append("] ");
  line.append(message).push_back('\n');
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
