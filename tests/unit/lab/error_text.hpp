// The message of the exception of type E that f() throws, or "(no error)":
// for the lab's error tables (bad input, bad arguments).
#pragma once

#include <string>

namespace gateway::lab::testing {

template <typename E, typename F>
std::string error_text(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace gateway::lab::testing
