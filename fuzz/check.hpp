// How a fuzz target reports a broken property: a message, the detail that
// explains it, and abort(), which libFuzzer reports as a crash and saves the
// input of (build-fuzz/artifacts/TARGET/crash-*). Shared by every target.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace fuzz {

[[noreturn]] inline void fail(const char* what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz: %s\n%.*s\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline void check(bool ok, const char* what, std::string_view detail = {}) {
  if (!ok) fail(what, detail);
}

}  // namespace fuzz
