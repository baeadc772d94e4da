// Reloads for the reload tests (reload_test.cpp, reload_load_test.cpp):
// SIGHUP and wait for the gateway's answer, counted in its error log so
// that a second reload does not see the first one's line.
#pragma once

#include <signal.h>

#include <string>
#include <string_view>

#include "harness.hpp"

namespace itest {

inline std::size_t occurrences(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

// SIGHUP to `proc`; true once its log says the configuration was reloaded,
// false if it says the reload was rejected (or neither within 10 s).
inline bool reload(Process& proc) {
  const auto log = proc.err();
  const auto ok = occurrences(log, "configuration reloaded"), rejected = occurrences(log, "keeping the running configuration");
  proc.signal(SIGHUP);
  bool done = eventually([&] {
    auto now = proc.err();
    return occurrences(now, "configuration reloaded") > ok || occurrences(now, "keeping the running configuration") > rejected;
  });
  return done && occurrences(proc.err(), "configuration reloaded") > ok;
}

}  // namespace itest
