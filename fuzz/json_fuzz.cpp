// libFuzzer target: the strict JSON validator and the merge of aggregate
// routes (gateway/compose/json.hpp), which see upstream bodies.
//
// The input is one or more candidate texts separated by NUL bytes (a NUL
// can never be part of valid JSON text). For each: the depth bound is
// monotonic and exact (a text valid at depth d stays valid inside one more
// array at d + 1; a text refused only for its depth stays refused there);
// surrounding whitespace is accepted and trailing garbage is not. The texts
// accepted at a small depth are merged under keys made of their own bytes
// (ASCII, control characters included, so every escape is exercised) and
// the merged object must itself be valid JSON.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/compose/json.hpp"
#include "check.hpp"

namespace {

using gateway::compose::merge_json;
using gateway::compose::valid_json;

constexpr int kDepth = 6;  // small, so the bound is reached

using fuzz::check;
using fuzz::fail;

void check_text(std::string_view text, bool valid) {
  std::string t(text);
  for (int d : {0, 1, kDepth}) {
    bool ok = valid_json(t, d);
    if (ok) check(valid_json(t, d + 1), "valid at depth d but not d + 1", t);
    check(!ok || valid, "valid at a small depth but not at 64", t);
    if (ok) check(valid_json("[" + t + "]", d + 1), "valid at d but not as an array element at d + 1", t);
    // Refused only for its depth: one more level is refused as well.
    if (!ok && valid) check(!valid_json("[" + t + "]", d + 1), "too deep at d but not inside [] at d + 1", t);
  }
  if (!valid) return;
  check(valid_json(" \t\r\n" + t + "\n "), "surrounding whitespace refused", t);
  check(!valid_json(t + "x"), "trailing garbage accepted", t);
  check(!valid_json(t + ","), "trailing comma accepted", t);
  check(!valid_json("\xEF\xBB\xBF" + t), "a byte order mark accepted", t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::vector<std::pair<std::string, std::string_view>> parts;
  int depth = 0;
  while (true) {
    auto nul = input.find('\0');
    std::string_view text = input.substr(0, nul);
    bool valid = valid_json(text, 64);
    check_text(text, valid);
    if (valid_json(text, kDepth)) {
      std::string key;
      for (std::size_t i = 0; i < text.size() && i < 12; ++i) key += static_cast<char>(text[i] & 0x7f);
      parts.emplace_back(std::move(key), text);
      depth = kDepth;
    }
    if (nul == std::string_view::npos) break;
    input.remove_prefix(nul + 1);
  }
  parts.emplace_back("", std::string_view());  // an empty value is written as null
  std::string merged = merge_json(parts);
  check(valid_json(merged, depth + 1), "the merged object is not valid JSON", merged);
  return 0;
}
