// Page templates: HTML with include tags, parsed once (at config load, or
// for a fragment's body at request time) into literal segments and
// includes. Both common syntaxes are understood, in this subset (anything
// else is a load error naming what is supported):
//
//   nginx SSI  <!--# include virtual="/fragments/chat/{id}" stub="chat" -->
//              <!--# block name="chat" -->fallback HTML<!--# endblock -->
//              <!--# set var="x" value="..." -->  <!--# echo var="x" -->
//              <!--# if expr="$x = text" --> <!--# elif ... --> <!--# else --> <!--# endif -->
//              (on variables the template sets; decided at load: ssi.hpp)
//   ESI        <esi:include src="/fragments/chat/{id}" alt="/fallback" onerror="continue"/>
//              <esi:remove>shown only without ESI</esi:remove>
//              <esi:comment text="not output"/>
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
// element, more than one primary include, esi:remove left open, and the
// errors of set/echo/if (ssi.hpp).
//
// Details (decided here; the unit tests in tests/unit/gateway/compose pin them):
// - Tags are case-sensitive (lowercase), as nginx and ESI (XML) have them.
// - SSI: "<!--#" then optional space, the command, attributes, "-->".
//   include takes virtual= or file= (the same; not both), stub=, wait=
//   ("yes"/"no", accepted and ignored: output is always in order) and the
//   extra attributes. block takes name=; its text up to
//   <!--# endblock --> is kept verbatim as the stub and nothing is output.
//   A stub may name a block defined before or after the include; SSI
//   directives inside a block are errors. stub= and an inline fallback= on
//   one include is an error (stub= with fallback="/url" is fine: the URL is
//   fetched first, the stub shown if that fails too). An SSI include is
//   required only when it says so.
// - ESI: <esi:include .../> or <esi:include ...></esi:include> (only
//   whitespace between); src=, alt=, onerror= (only "continue") and the
//   extra attributes. Required unless it has onerror="continue" or a
//   fallback= attribute (a fallback says the page can do without it); alt=
//   does not change that (the ESI spec tries alt, then applies onerror). An
//   explicit required= wins; required="true" with onerror="continue" is an
//   error. <esi:remove>...</esi:remove> (and <esi:remove/>) is dropped.
//   "<!--esi" must be followed by whitespace or "-->" (else it is an
//   ordinary comment); what is between "<!--esi" and the first "-->" is
//   parsed again (it may hold esi:include) and output without the markers.
//   <esi:comment/> (attribute text= only) is dropped; it must be
//   self-closing, as the ESI spec has it.
//   Any other <esi:...> element and any stray </esi:...> tag is an error.
// - SSI set/echo/if: see ssi.hpp. What a branch not taken holds (text,
//   includes, echo) is not output, but is checked all the same.
// - Attribute values are quoted with " or '; &amp; &quot; &lt; &gt; &apos;
//   and numeric references (&#39; &#x27;) are decoded (entities.hpp), other
//   '&' text is kept. required= and primary= may be bare or "true"/"false". timeout=
//   uses the config's duration syntax (gateway::parse_duration) and must be
//   above zero. fallback= starting with '/' is fallback_url, else
//   fallback_html (fallback="" shows nothing).
// - Ordinary comments <!-- ... --> pass through untouched, tags inside
//   them are not processed; an unterminated one is an error.
// - Lines count '\n'; columns count bytes from 1. Tag-level errors (and
//   each Include) point at the tag's '<'; attribute errors point at the
//   attribute's name. Errors are sorted by position; when there are any,
//   tpl is empty. Parsing is linear in the text's size.
ParseResult parse_template(std::string_view text);

// The include URL with {params} replaced; unknown params stay as written.
std::string expand(std::string_view url, const std::vector<std::pair<std::string_view, std::string_view>>& params);

}  // namespace gateway::page
