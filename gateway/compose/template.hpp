// Page templates: HTML with include tags, parsed once (at config load, or
// for a fragment's body at request time) into literal segments and
// includes. Both common syntaxes are understood, so existing templates work
// unchanged:
//
//   nginx SSI  <!--# include virtual="/fragments/chat/{id}" stub="chat" -->
//              <!--# block name="chat" -->fallback HTML<!--# endblock -->
//   ESI        <esi:include src="/fragments/chat/{id}" alt="/fallback" onerror="continue"/>
//              <esi:remove>shown only without ESI</esi:remove>
//              <!--esi <p>shown only with ESI</p> -->
//
// Extra attributes on either kind of include: timeout="500ms",
// fallback="<inline html>" or fallback="/a/url", required, primary (the
// primary fragment decides the page's status and may add headers to it, as
// Zalando Tailor does). An ESI include without onerror="continue" is
// required, as the ESI spec has it.
//
// Pure code; no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/config.hpp"

namespace gateway::page {

struct Include {
  std::string src;                           // URL (path and query), may hold {params}
  std::string alt;                           // tried when src fails (ESI alt)
  std::optional<std::string> fallback_html;  // shown when the fragment fails or is late
  std::string fallback_url;                  // fetched when the fragment fails (fallback="/...")
  std::optional<Duration> timeout;           // else the route's
  bool required = false;                     // its failure fails the page (502/504)
  bool primary = false;                      // decides the page's status and headers
  int line = 0, column = 0;                  // where the tag starts (1-based)
};

struct Segment {
  std::string literal;             // output as is (when include is empty)
  std::optional<Include> include;  // or an include
};

struct Template {
  std::vector<Segment> segments;   // in output order; adjacent literals merged
  std::size_t includes() const;
};

struct TemplateError {
  int line = 0, column = 0;  // 1-based
  std::string message;
};

struct ParseResult {
  Template tpl;
  std::vector<TemplateError> errors;  // empty on success
};

// Parses a template. Errors: an unterminated tag or comment, an include
// without src/virtual, an unknown attribute, a bad timeout, a stub naming an
// undefined block, a duplicate block name, an unsupported SSI command or ESI
// element, more than one primary include, esi:remove left open.
ParseResult parse_template(std::string_view text);

// The include URL with {params} replaced; unknown params stay as written.
std::string expand(std::string_view url, const std::vector<std::pair<std::string_view, std::string_view>>& params);

// What became of one include when the page was assembled.
struct FragmentResult {
  enum class Outcome { ok, failed, timed_out };
  Outcome outcome = Outcome::ok;
  std::string body;  // the fragment's body when ok
};

// The whole page in one string, with each include replaced by its result
// (or its fallback_html, or nothing). For tests and for callers that do not
// stream; the composer streams the same segments in the same order.
std::string assemble(const Template& tpl, const std::vector<FragmentResult>& results);

}  // namespace gateway::page
