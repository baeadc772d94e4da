// Tests for the error log's lines (base/log.hpp): the timestamped form on a
// terminal or file, and the syslog-priority form when stderr is journald's.
#include "base/log.hpp"

#include <doctest/doctest.h>

using namespace gateway::log;

namespace {
constexpr std::time_t kTime = 1796553900;  // 2026-12-06T10:45:00Z
}

TEST_CASE("log: a line carries a timestamp, or a syslog priority under journald") {
  struct Row {
    Level level;
    bool journal;
    const char* line;
  };
  const Row rows[] = {
      {Level::info, false, "2026-12-06T10:45:00Z [info] listening\n"},
      {Level::warn, false, "2026-12-06T10:45:00Z [warn] listening\n"},
      {Level::error, false, "2026-12-06T10:45:00Z [error] listening\n"},
      {Level::info, true, "<6>[info] listening\n"},
      {Level::warn, true, "<4>[warn] listening\n"},
      {Level::error, true, "<3>[error] listening\n"},
  };
  for (const auto& row : rows) {
    CAPTURE(row.line);
    CHECK(format_line(row.level, "listening", kTime, row.journal) == row.line);
  }
}

TEST_CASE("log: JOURNAL_STREAM counts only when it names stderr's device and inode") {
  struct Row {
    const char* value;
    bool journal;
  };
  const Row rows[] = {
      {"8:12345", true},   {"8:12346", false},  {"9:12345", false}, {"8:12345x", false}, {"8", false},
      {"", false},         {"8:12345:1", false}, {":12345", false}, {nullptr, false},
  };
  for (const auto& row : rows) {
    CAPTURE(row.value ? row.value : "(unset)");
    CHECK(journal_stream_names(row.value, 8, 12345) == row.journal);
  }
}
