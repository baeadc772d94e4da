// libFuzzer target: page templates (gateway/compose/template.hpp), the
// nginx SSI and ESI include syntax an operator's HTML may hold, and a
// fragment's body, parsed at request time when fragments nest.
//
// Checks what parse_template() promises: errors are sorted, point inside the
// text and leave no half-parsed template; a parsed template has no two
// literals in a row, every include has a src, points at its tag's '<', and
// at most one is primary; its literals are the text's own bytes, in order
// (unless an SSI echo, decided at load, put a variable's value there).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/compose/template.hpp"
#include "check.hpp"

namespace {

using fuzz::check;
using fuzz::fail;

// Byte offsets where each line starts ('\n' ends a line).
std::vector<std::size_t> line_starts(std::string_view text) {
  std::vector<std::size_t> starts{0};
  for (std::size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n') starts.push_back(i + 1);
  return starts;
}

// The offset of a 1-based line and column, or npos if it lies outside the
// text (one past the last byte of a line is inside: an error may point at
// the end).
std::size_t offset_of(const std::vector<std::size_t>& starts, std::size_t size, int line, int column) {
  if (line < 1 || column < 1 || static_cast<std::size_t>(line) > starts.size()) return std::string_view::npos;
  std::size_t begin = starts[line - 1];
  std::size_t end = static_cast<std::size_t>(line) < starts.size() ? starts[line] : size + 1;
  std::size_t at = begin + static_cast<std::size_t>(column) - 1;
  return at < end ? at : std::string_view::npos;
}

void check_errors(std::string_view text, const gateway::page::ParseResult& r) {
  auto starts = line_starts(text);
  check(r.tpl.segments.empty(), "a half-parsed template came with errors");
  for (std::size_t i = 0; i < r.errors.size(); ++i) {
    const auto& e = r.errors[i];
    std::string where = std::to_string(e.line) + ":" + std::to_string(e.column) + " " + e.message;
    check(!e.message.empty(), "an error without a message");
    check(offset_of(starts, text.size(), e.line, e.column) != std::string_view::npos, "error outside the text", where);
    if (i > 0) {
      const auto& p = r.errors[i - 1];
      check(std::pair(p.line, p.column) <= std::pair(e.line, e.column), "errors not sorted by position", where);
    }
  }
}

void check_template(std::string_view text, const gateway::page::Template& tpl) {
  auto starts = line_starts(text);
  const bool echoes = text.find("echo") != std::string_view::npos;  // <!--# echo var=... -->
  std::size_t primaries = 0, includes = 0, pos = 0;
  bool last_literal = false;
  for (const auto& s : tpl.segments) {
    if (!s.include) {
      check(!last_literal, "two literal segments in a row");
      last_literal = true;
      // A literal is the text's own bytes: it occurs at or after the
      // previous one (markers and removed parts are only left out).
      if (echoes) continue;
      for (char c : s.literal) {
        while (pos < text.size() && text[pos] != c) ++pos;
        check(pos < text.size(), "a literal holds bytes the text does not have there", s.literal);
        ++pos;
      }
      continue;
    }
    last_literal = false;
    ++includes;
    const auto& inc = *s.include;
    std::string where = std::to_string(inc.line) + ":" + std::to_string(inc.column) + " src=" + inc.src;
    check(!inc.src.empty(), "an include without src", where);
    auto at = offset_of(starts, text.size(), inc.line, inc.column);
    check(at < text.size() && text[at] == '<', "an include not pointing at its tag's '<'", where);
    if (inc.timeout) check(inc.timeout->count() > 0, "an include timeout of zero", where);
    if (inc.primary) ++primaries;
  }
  check(primaries <= 1, "more than one primary include");
  check(tpl.includes() == includes, "includes() miscounts");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = gateway::page::parse_template(text);
  if (!r.errors.empty()) check_errors(text, r);
  else check_template(text, r.tpl);
  return 0;
}
