// Tests for gateway/compose/template: parsing nginx SSI and ESI include tags
// into literal segments and includes, the errors (with line and column) for
// malformed templates, and expand(). Table-driven; templates are
// raw string literals so that lines and columns can be read off the source.
#include "gateway/compose/template.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <vector>

using gateway::Duration;
using gateway::page::expand;
using gateway::page::Include;
using gateway::page::parse_template;
using gateway::page::Template;
using gateway::page::TemplateError;

namespace {

// A template's segments in short form: "L:<literal>" or "I:<src>".
std::vector<std::string> shape(const Template& tpl) {
  std::vector<std::string> out;
  for (const auto& s : tpl.segments) out.push_back(s.include ? "I:" + s.include->src : "L:" + s.literal);
  return out;
}

Template parse_ok(const std::string& text) {
  auto r = parse_template(text);
  if (!r.errors.empty())
    FAIL(text << "\n" << r.errors[0].line << ":" << r.errors[0].column << " " << r.errors[0].message);
  return std::move(r.tpl);
}

// The only include of a template that must parse.
Include only_include(const std::string& text) {
  auto tpl = parse_ok(text);
  REQUIRE(tpl.includes() == 1);
  for (const auto& s : tpl.segments)
    if (s.include) return *s.include;
  return {};
}

struct IncludeCase {
  std::string text;
  Include want;
};

Include inc(std::string src) {
  Include i;
  i.src = std::move(src);
  i.line = 1;
  i.column = 1;
  return i;
}

Include with(Include i, void (*f)(Include&)) {
  f(i);
  return i;
}

void check_include(const Include& got, const Include& want) {
  CHECK(got.src == want.src);
  CHECK(got.alt == want.alt);
  CHECK(got.fallback_html == want.fallback_html);
  CHECK(got.fallback_url == want.fallback_url);
  CHECK(got.timeout == want.timeout);
  CHECK(got.required == want.required);
  CHECK(got.primary == want.primary);
  CHECK(got.line == want.line);
  CHECK(got.column == want.column);
}

void run_include_cases(const std::vector<IncludeCase>& cases) {
  for (const auto& c : cases) {
    CAPTURE(c.text);
    check_include(only_include(c.text), c.want);
  }
}

struct ErrorCase {
  std::string text;
  int line, column;
  std::string message;
};

void run_error_cases(const std::vector<ErrorCase>& cases) {
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = parse_template(c.text);
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].message == c.message);
    CHECK(r.errors[0].line == c.line);
    CHECK(r.errors[0].column == c.column);
    CHECK(r.tpl.segments.empty());  // no half-parsed template on errors
  }
}

}  // namespace

TEST_CASE("compose template: a template without includes is one literal") {
  const std::vector<std::string> cases = {
      "<html><body>hello</body></html>",
      "a < b > c <<>> <p class=\"x\">",
      "<!-- an ordinary comment --><p>x</p>",
      "<!----> empty comment",
      "<!-- <esi:include src=\"/hidden\"/> tags in comments are not processed -->",
      "<!--esimple is an ordinary comment -->",
      "<esi <esi-include src=\"/x\"> <!-- # not ssi -->",
      "line 1\r\nline 2\n",
      "<script>if (a<b && c>d) {}</script>",
  };
  for (const auto& text : cases) {
    CAPTURE(text);
    auto tpl = parse_ok(text);
    CHECK(tpl.includes() == 0);
    CHECK(shape(tpl) == std::vector<std::string>{"L:" + text});
  }
  auto empty = parse_ok("");
  CHECK(empty.segments.empty());
  CHECK(empty.includes() == 0);
}

TEST_CASE("compose template: SSI include with every attribute") {
  std::vector<IncludeCase> cases = {
      {R"(<!--# include virtual="/fragments/chat/{id}" -->)", inc("/fragments/chat/{id}")},
      {R"(<!--#include virtual="/a"-->)", inc("/a")},
      {R"(<!--# include file="/b" -->)", inc("/b")},
      {R"(<!--# include virtual='/single?x=1' -->)", inc("/single?x=1")},
      {R"(<!--#   include   virtual = "/spaces"   -->)", inc("/spaces")},
      {R"(<!--# include virtual="/a?x=1&amp;y=2" -->)", inc("/a?x=1&y=2")},
      {R"(<!--# include virtual="/a" wait="yes" -->)", inc("/a")},
      {R"(<!--# include virtual="/a" timeout="500ms" -->)",
       with(inc("/a"), [](Include& i) { i.timeout = Duration{500}; })},
      {R"(<!--# include virtual="/a" timeout="2s" -->)",
       with(inc("/a"), [](Include& i) { i.timeout = Duration{2000}; })},
      {R"(<!--# include virtual="/a" timeout="1m30s" -->)",
       with(inc("/a"), [](Include& i) { i.timeout = Duration{90'000}; })},
      {R"(<!--# include virtual="/a" fallback="<b>sorry</b>" -->)",
       with(inc("/a"), [](Include& i) { i.fallback_html = "<b>sorry</b>"; })},
      {R"(<!--# include virtual="/a" fallback="" -->)",
       with(inc("/a"), [](Include& i) { i.fallback_html = ""; })},
      {R"(<!--# include virtual="/a" fallback="/fallback/{id}" -->)",
       with(inc("/a"), [](Include& i) { i.fallback_url = "/fallback/{id}"; })},
      {R"(<!--# include virtual="/a" required -->)", with(inc("/a"), [](Include& i) { i.required = true; })},
      {R"(<!--# include virtual="/a" required="true" -->)",
       with(inc("/a"), [](Include& i) { i.required = true; })},
      {R"(<!--# include virtual="/a" required="false" -->)", inc("/a")},
      {R"(<!--# include virtual="/a" primary -->)", with(inc("/a"), [](Include& i) { i.primary = true; })},
      {R"(<!--# include virtual="/a" primary="true" required -->)", with(inc("/a"), [](Include& i) {
         i.primary = true;
         i.required = true;
       })},
      {R"(<!--# include virtual="/a" primary="false" -->)", inc("/a")},
      {R"(<p>
  <!--# include virtual="/x"
               timeout="250ms" -->)",
       with(inc("/x"), [](Include& i) {
         i.line = 2;
         i.column = 3;
         i.timeout = Duration{250};
       })},
  };
  run_include_cases(cases);
}

TEST_CASE("compose template: ESI include with every attribute, required unless onerror=continue or fallback") {
  auto req = [](std::string src) {
    auto i = inc(std::move(src));
    i.required = true;
    return i;
  };
  std::vector<IncludeCase> cases = {
      {R"(<esi:include src="/a"/>)", req("/a")},
      {R"(<esi:include src="/a" />)", req("/a")},
      {R"(<esi:include src="/a"></esi:include>)", req("/a")},
      {"<esi:include src=\"/a\">\n  </esi:include >", req("/a")},
      {R"(<esi:include src='/a?q=>&amp;r=&quot;x&quot;'/>)", req("/a?q=>&r=\"x\"")},
      {R"(<esi:include src="/a" onerror="continue"/>)", inc("/a")},
      {R"(<esi:include src="/a" alt="/b"/>)", with(req("/a"), [](Include& i) { i.alt = "/b"; })},
      {R"(<esi:include src="/a" alt="/b" onerror="continue"/>)", with(inc("/a"), [](Include& i) { i.alt = "/b"; })},
      {R"(<esi:include src="/a" fallback="<i>later</i>"/>)",
       with(inc("/a"), [](Include& i) { i.fallback_html = "<i>later</i>"; })},
      {R"(<esi:include src="/a" fallback="/fb"/>)", with(inc("/a"), [](Include& i) { i.fallback_url = "/fb"; })},
      {R"(<esi:include src="/a" fallback="x" required/>)", with(req("/a"), [](Include& i) { i.fallback_html = "x"; })},
      {R"(<esi:include src="/a" required="false"/>)", inc("/a")},
      {R"(<esi:include src="/a" onerror="continue" required="false"/>)", inc("/a")},
      {R"(<esi:include src="/a" timeout="750ms" onerror="continue"/>)",
       with(inc("/a"), [](Include& i) { i.timeout = Duration{750}; })},
      {R"(<esi:include src="/a" primary />)", with(req("/a"), [](Include& i) { i.primary = true; })},
      {R"(<esi:include src="/a" primary="false"/>)", req("/a")},
      {R"(<esi:include src="/a" fallback="&lt;b&gt;x &amp; y&quot;&#39;&apos;&#x41;&#65;&nbsp;&#0;&"/>)",
       with(inc("/a"), [](Include& i) { i.fallback_html = "<b>x & y\"''AA&nbsp;&#0;&"; })},
      {R"(<esi:include src="/a" fallback="caf&#xE9; &#8364;"/>)",
       with(inc("/a"), [](Include& i) { i.fallback_html = "caf\xC3\xA9 \xE2\x82\xAC"; })},
      {R"(<div>
<div>
    <esi:include
       src="/m"
       alt="/n"
       timeout="3s"
       onerror="continue"
       fallback="-"
       primary/>)",
       with(inc("/m"), [](Include& i) {
         i.alt = "/n";
         i.timeout = Duration{3000};
         i.fallback_html = "-";
         i.primary = true;
         i.line = 3;
         i.column = 5;
       })},
  };
  run_include_cases(cases);
}

TEST_CASE("compose template: segments of a page, adjacent literals merged") {
  struct Case {
    std::string text;
    std::vector<std::string> shape;
  };
  const std::vector<Case> cases = {
      {R"(<html><!--# include virtual="/head" --><body>
<esi:include src="/a"/><esi:include src="/b"/>
</body></html>)",
       {"L:<html>", "I:/head", "L:<body>\n", "I:/a", "I:/b", "L:\n</body></html>"}},
      {R"(<esi:include src="/first"/>tail)", {"I:/first", "L:tail"}},
      {R"(head<esi:include src="/last"/>)", {"L:head", "I:/last"}},
      // removed and block-only parts produce no segment of their own
      {R"(a<esi:remove>x</esi:remove>b<!--# block name="s" -->y<!--# endblock -->c<!--esi d-->e)", {"L:abc de"}},
      // comments stay in the literal around them
      {R"(a<!-- c --><esi:include src="/x"/><!-- d -->b)", {"L:a<!-- c -->", "I:/x", "L:<!-- d -->b"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(shape(parse_ok(c.text)) == c.shape);
  }
}

TEST_CASE("compose template: SSI stub blocks, defined before or after the include") {
  auto tpl = parse_ok(R"(<!--# block name="chat" --><p>chat is resting</p><!--# endblock -->
<div><!--# include virtual="/chat/{id}" stub="chat" --></div>
<div><!--# include virtual="/recs/{id}" stub="recs" fallback="/recs/default" --></div>
<!--# block name="recs" -->
  <ul><li>popular</li></ul>
<!--# endblock -->
<!--# block name="unused" --><!-- a comment in a block --><!--# endblock -->)");
  CHECK(shape(tpl) == std::vector<std::string>{"L:\n<div>", "I:/chat/{id}", "L:</div>\n<div>", "I:/recs/{id}",
                                               "L:</div>\n\n"});
  const auto& chat = *tpl.segments[1].include;
  CHECK(chat.fallback_html == "<p>chat is resting</p>");
  CHECK(chat.fallback_url.empty());
  CHECK_FALSE(chat.required);
  CHECK(chat.line == 2);
  CHECK(chat.column == 6);
  const auto& recs = *tpl.segments[3].include;
  CHECK(recs.fallback_html == "\n  <ul><li>popular</li></ul>\n");
  CHECK(recs.fallback_url == "/recs/default");
  CHECK(recs.line == 3);
}

TEST_CASE("compose template: esi:remove is dropped and <!--esi --> content is kept and parsed") {
  struct Case {
    std::string text;
    std::vector<std::string> shape;
  };
  const std::vector<Case> cases = {
      {R"(<p>a</p><esi:remove><a href="/chat">chat</a></esi:remove><!--esi <p>b</p> --><esi:remove/>end)",
       {"L:<p>a</p> <p>b</p> end"}},
      {"<esi:remove>\n<esi:include src=\"/not-parsed\"/>\n<!--# include virtual=\"/nor-this\" -->\n</esi:remove >x",
       {"L:x"}},
      {"<!--esi-->x", {"L:x"}},
      {"<!--esi\n<div><esi:include src=\"/x\" onerror=\"continue\"/></div>\n-->",
       {"L:\n<div>", "I:/x", "L:</div>\n"}},
      {"a<!--esi <esi:remove>gone</esi:remove>b<esi:include src=\"/y\"/>c -->d", {"L:a b", "I:/y", "L:c d"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(shape(parse_ok(c.text)) == c.shape);
  }
}

TEST_CASE("compose template: an include inside <!--esi --> keeps its own line and column") {
  auto tpl = parse_ok(R"(<body>
<!--esi
  <nav>
    <esi:include src="/nav" onerror="continue" timeout="1s"/>
  </nav>
-->
</body>)");
  REQUIRE(tpl.includes() == 1);
  CHECK(shape(tpl) == std::vector<std::string>{"L:<body>\n\n  <nav>\n    ", "I:/nav", "L:\n  </nav>\n\n</body>"});
  const auto& i = *tpl.segments[1].include;
  CHECK(i.line == 4);
  CHECK(i.column == 5);
  CHECK(i.timeout == Duration{1000});
  CHECK_FALSE(i.required);
}

TEST_CASE("compose template: malformed templates give one error with line and column") {
  const std::vector<ErrorCase> cases = {
      // unterminated things
      {"a\n  <!--# include virtual=\"/a\" ", 2, 3, "unterminated SSI directive"},
      {"x<!-- y", 1, 2, "unterminated comment"},
      {"<p>\n<esi:include src=\"/a\"", 2, 1, "unterminated <esi:include> tag"},
      {"<esi:include src=\"/a/>\n<p>", 1, 1, "unterminated <esi:include> tag"},
      {"ok\nok <!--esi <p>", 2, 4, "unterminated <!--esi comment"},
      {"<esi:include src=\"/a\">\n", 1, 1, "<esi:include> without </esi:include>"},
      {"<p>\n  <esi:remove>\n gone", 2, 3, "<esi:remove> left open"},
      {"<!--# block name=\"b\" -->never closed", 1, 1, "block without endblock"},
      {"<!--esi <!-- inner --> -->", 1, 9, "comment inside <!--esi ... --> (comments do not nest)"},
      // missing or empty URL
      {"<esi:include alt=\"/b\"/>", 1, 1, "<esi:include> without src"},
      {"\n\n<!--# include stub=\"x\" -->", 3, 1, "SSI include without virtual or file"},
      {"<esi:include src=\"\"/>", 1, 14, "empty include URL"},
      // attributes
      {"<div>\n  <esi:include src=\"/a\" color=\"red\"/>", 2, 25, "unknown attribute color on <esi:include>"},
      {"<!--# include virtual=\"/a\" alt=\"/b\" -->", 1, 28, "unknown attribute alt on SSI include"},
      {"<!--# include virtual=\"/a\" set=\"v\" -->", 1, 28, "unknown attribute set on SSI include"},
      {"<esi:include src=\"/a\" stub=\"s\"/>", 1, 23, "unknown attribute stub on <esi:include>"},
      {"<esi:include src=\"/a\" src=\"/b\"/>", 1, 23, "duplicate attribute src"},
      {"<!--# include virtual=\"/a\" file=\"/b\" -->", 1, 28, "both virtual and file on SSI include"},
      {"<esi:include src=/a/>", 1, 18, "the value of src must be quoted"},
      {"<esi:include src=\"/a\"alt=\"/b\"/>", 1, 22, "missing space after the value of src"},
      {"<esi:include src/>", 1, 14, "attribute src needs a value"},
      {"<esi:include src=\"/a\" !/>", 1, 23, "malformed attribute: unexpected '!'"},
      {"<!--# include virtual=\"/a -->", 1, 23, "unterminated value of virtual"},
      {"<esi:include src=\"/a\" timeout=\"fast\"/>", 1, 23, "bad timeout \"fast\""},
      {"<esi:include src=\"/a\" timeout=\"0ms\"/>", 1, 23, "bad timeout \"0ms\""},
      {"<esi:include src=\"/a\" timeout=\"1.5s\"/>", 1, 23, "bad timeout \"1.5s\""},
      {"<!--# include virtual=\"/a\" timeout=\"-1s\" -->", 1, 28, "bad timeout \"-1s\""},
      {"<esi:include src=\"/a\" onerror=\"abort\"/>", 1, 23, "onerror must be \"continue\""},
      {"<esi:include src=\"/a\" required=\"maybe\"/>", 1, 23, "required must be true or false"},
      {"<esi:include src=\"/a\" primary=\"yes\"/>", 1, 23, "primary must be true or false"},
      {"<!--# include virtual=\"/a\" wait=\"always\" -->", 1, 28, "wait must be \"yes\" or \"no\""},
      {"<esi:include src=\"/a\" onerror=\"continue\" required/>", 1, 42, "required contradicts onerror=\"continue\""},
      // stubs and blocks
      {"<p>\n<!--# include virtual=\"/a\" stub=\"nope\" -->", 2, 28, "stub nope names no block"},
      {"<!--# block name=\"s\" -->x<!--# endblock -->\n<!--# include virtual=\"/a\" stub=\"s\" fallback=\"y\" -->", 2,
       28, "both stub and an inline fallback"},
      {"<!--# block name=\"s\" -->x<!--# endblock -->\n<!--# block name=\"s\" -->y<!--# endblock -->", 2, 1,
       "duplicate block s"},
      {"a\n<!--# endblock -->", 2, 1, "endblock without block"},
      {"<!--# block -->x<!--# endblock -->", 1, 1, "block without name"},
      {"<!--# block name=\"\" -->x<!--# endblock -->", 1, 13, "block name must not be empty"},
      {"<!--# block name=\"b\" id=\"c\" -->x<!--# endblock -->", 1, 22, "unknown attribute id on SSI block"},
      {"<!--# block name=\"b\" -->x<!--# endblock name=\"b\" -->", 1, 41, "unknown attribute name on SSI endblock"},
      {"<!--# block name=\"b\" -->\n  <!--# include virtual=\"/a\" -->\n<!--# endblock -->", 2, 3,
       "SSI include inside a block is not supported"},
      // unsupported commands and elements
      {"<!--# exec cmd=\"ls\" -->", 1, 1, "unsupported SSI command exec (supported: include, block, set, echo, if, elif, else, endif)"},
      {"a<!--#fsize file=\"/x\" -->", 1, 2, "unsupported SSI command fsize (supported: include, block, set, echo, if, elif, else, endif)"},
      {"<!--# config timefmt=\"%A\" -->", 1, 1, "unsupported SSI command config (supported: include, block, set, echo, if, elif, else, endif)"},
      {"<!--# -->", 1, 1, "malformed SSI directive: no command"},
      {"<p>\n <esi:try>", 2, 2, "unsupported ESI element <esi:try> (supported: include, remove, comment)"},
      {"<esi:inline name=\"/x\" fetchable=\"yes\"/>", 1, 1, "unsupported ESI element <esi:inline> (supported: include, remove, comment)"},
      {"<esi:vars>", 1, 1, "unsupported ESI element <esi:vars> (supported: include, remove, comment)"},
      {"<esi:Include src=\"/a\"/>", 1, 1, "unsupported ESI element <esi:Include> (supported: include, remove, comment)"},
      {"x</esi:remove>", 1, 2, "unexpected </esi:remove>"},
      {"<esi:include src=\"/a\">x</esi:include>", 1, 1, "<esi:include> must be empty or self-closing"},
      {"<esi:remove class=\"a\">x</esi:remove>", 1, 13, "unknown attribute class on <esi:remove>"},
      {"<esi:remove>x</esi:remove x>", 1, 14, "malformed </esi:remove> tag"},
      // primaries
      {"<esi:include src=\"/a\" primary/>\n<p>\n  <!--# include virtual=\"/b\" primary=\"true\" -->", 3, 3,
       "more than one primary include (the first is at line 1, column 1)"},
  };
  run_error_cases(cases);
}

TEST_CASE("compose template: errors are collected in order, parsing goes on after a bad tag") {
  auto r = parse_template(R"(<html>
<!--# include virtual="/a" stub="missing" -->
<esi:include src="/b" colour="red"/>
<!--# echo var="DATE_LOCAL" -->
<esi:include src="/ok"/>
<esi:try>)");
  std::vector<std::string> got;
  for (const auto& e : r.errors) got.push_back(std::to_string(e.line) + ":" + std::to_string(e.column) + " " + e.message);
  CHECK(got == std::vector<std::string>{
                   "2:28 stub missing names no block",
                   "3:23 unknown attribute colour on <esi:include>",
                   "4:12 variable DATE_LOCAL is not set in the template before this point (only variables of "
                   "<!--# set --> exist: nothing is evaluated per request)",
                   "6:1 unsupported ESI element <esi:try> (supported: include, remove, comment)",
               });
  CHECK(r.tpl.segments.empty());
}

TEST_CASE("compose template: expand replaces known params and leaves the rest") {
  using Params = std::vector<std::pair<std::string_view, std::string_view>>;
  struct Case {
    std::string url;
    Params params;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"/fragments/chat/{id}", {{"id", "42"}}, "/fragments/chat/42"},
      {"/a/{x}/{y}?z={x}", {{"x", "1"}, {"y", "two"}}, "/a/1/two?z=1"},
      {"/a/{unknown}/{id}", {{"id", "7"}}, "/a/{unknown}/7"},
      {"/no/params", {{"id", "7"}}, "/no/params"},
      {"/open/{id", {{"id", "7"}}, "/open/{id"},
      {"/empty/{}", {{"", "e"}}, "/empty/e"},
      {"{id}{id}", {{"id", "ab"}}, "abab"},
      {"", {}, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.url);
    CHECK(expand(c.url, c.params) == c.want);
  }
}

TEST_CASE("compose template: a 1 MB template parses in one linear pass") {
  // A realistic page: literals, comments, both include syntaxes, blocks.
  std::string text;
  std::size_t n = 0;
  text.reserve(1 << 20);
  while (text.size() < (1u << 20)) {
    text += "<div class=\"row\"><p>some text &amp; more</p><!-- comment -->\n";
    text += "<!--# include virtual=\"/f/" + std::to_string(n) + "\" timeout=\"1s\" -->";
    text += "<esi:include src=\"/g/{id}\" onerror=\"continue\"/><esi:remove>x</esi:remove>\n";
    n += 2;
  }
  auto r = parse_template(text);
  CHECK(r.errors.empty());
  CHECK(r.tpl.includes() == n);
  CHECK(r.tpl.segments.size() == n + n / 2 + 1);

  // Pathological inputs that a naive parser would make quadratic: each open
  // tag searching to the end of the text for its closing tag.
  std::string open_includes;
  while (open_includes.size() < (1u << 20)) open_includes += "<esi:include src=\"/a\">\n";
  auto r2 = parse_template(open_includes);
  CHECK(r2.errors.size() == open_includes.size() / 23);
  CHECK(r2.errors.back().message == "<esi:include> without </esi:include>");
  CHECK(r2.errors.back().line == static_cast<int>(open_includes.size() / 23));

  std::string blocks;
  while (blocks.size() < (1u << 20)) blocks += "<!--# block name=\"b\" -->";
  auto r3 = parse_template(blocks);
  CHECK(r3.errors.size() == blocks.size() / 24);

  std::string lts(1u << 20, '<');
  CHECK(parse_template(lts).tpl.segments.size() == 1);
}
