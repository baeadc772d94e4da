// Tests for the SSI commands set, echo and if/elif/else/endif and for
// <esi:comment/> (gateway/compose/ssi.hpp, template.hpp): what a template
// outputs, decided at load, and the load errors with line and column for
// what is not supported (request variables, regular expressions).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/compose/template.hpp"

using gateway::page::parse_template;
using gateway::page::Template;

namespace {

// The template's output with includes as "[I:src]".
std::string render(const Template& tpl) {
  std::string out;
  for (const auto& s : tpl.segments) out += s.include ? "[I:" + s.include->src + "]" : s.literal;
  return out;
}

std::string errors_of(const std::string& text) {
  auto r = parse_template(text);
  std::string out;
  for (const auto& e : r.errors) out += std::to_string(e.line) + ":" + std::to_string(e.column) + " " + e.message + "\n";
  if (!r.errors.empty()) CHECK(r.tpl.segments.empty());
  return out;
}

struct OutputCase {
  std::string text;
  std::string want;
};

void run_output_cases(const std::vector<OutputCase>& cases) {
  for (const auto& c : cases) {
    CAPTURE(c.text);
    auto r = parse_template(c.text);
    REQUIRE_MESSAGE(r.errors.empty(), r.errors[0].line << ":" << r.errors[0].column << " " << r.errors[0].message);
    CHECK(render(r.tpl) == c.want);
  }
}

struct ErrorCase {
  std::string text;
  std::string want;  // "line:column message\n"
};

void run_error_cases(const std::vector<ErrorCase>& cases) {
  for (const auto& c : cases) {
    CAPTURE(c.text);
    CHECK(errors_of(c.text) == c.want);
  }
}

const std::string kNotSet =
    " is not set in the template before this point (only variables of <!--# set --> exist: nothing is evaluated per "
    "request)";

}  // namespace

TEST_CASE("compose ssi: esi:comment is dropped from the output, ESI include and remove still work") {
  run_output_cases({
      {R"(a<esi:comment text="for editors"/>b)", "ab"},
      {R"(a<esi:comment text="x" />b<esi:comment/>c)", "abc"},
      {"<esi:comment\n  text='multi\nline'/>x", "x"},
      {R"(<esi:comment text="a"/><esi:include src="/f"/><esi:remove>gone</esi:remove>!)", "[I:/f]!"},
      {R"(<!--esi <esi:comment text="c"/><p>on</p> -->)", " <p>on</p> "},
  });
  run_error_cases({
      {R"(<esi:comment text="x">)", "1:1 <esi:comment> must be self-closing (<esi:comment text=\"...\"/>)\n"},
      {"<p>\n  <esi:comment note=\"x\"/>", "2:16 unknown attribute note on <esi:comment>\n"},
      {R"(<esi:comment text="x)", "1:1 unterminated <esi:comment> tag\n"},
  });
}

TEST_CASE("compose ssi: set and echo output the template's variables, encoded as asked") {
  run_output_cases({
      {R"(<!--# set var="title" value="Channel" --><h1><!--# echo var="title" --></h1>)", "<h1>Channel</h1>"},
      // value references earlier variables, $name and ${name}; \$ is a dollar
      {R"(<!--# set var="a" value="x" --><!--# set var="b" value="$a-${a}y \$a" --><!--# echo var="b" -->)",
       "x-xy $a"},
      // a '$' not followed by a name is kept
      {R"(<!--# set var="p" value="5 $ or $-" --><!--# echo var="p" -->)", "5 $ or $-"},
      // encoding: entity by default (& < > " as nginx escapes them), url, none
      {R"(<!--# set var="h" value="<b a=&quot;1&quot;>&amp;" --><!--# echo var="h" -->)",
       "&lt;b a=&quot;1&quot;&gt;&amp;"},
      {R"(<!--# set var="h" value="<b>" --><!--# echo var="h" encoding="none" -->)", "<b>"},
      {R"(<!--# set var="q" value="a b/c?d=é" --><!--# echo var="q" encoding="url" -->)",
       "a%20b%2Fc%3Fd%3D%C3%A9"},
      // set again: the last value wins
      {R"(<!--# set var="v" value="1" --><!--# set var="v" value="2" --><!--# echo var="v" -->)", "2"},
      // an empty value outputs nothing
      {R"(<!--# set var="e" value="" -->[<!--# echo var="e" default="d" -->])", "[]"},
  });
}

TEST_CASE("compose ssi: echo of a variable set only in a branch not taken shows default, else (none)") {
  run_output_cases({
      {R"(<!--# set var="on" value="" --><!--# if expr="$on" --><!--# set var="x" value="1" --><!--# endif -->)"
       R"([<!--# echo var="x" -->][<!--# echo var="x" default="<none>" -->])",
       "[(none)][&lt;none&gt;]"},
  });
}

TEST_CASE("compose ssi: if, elif and else keep one branch, decided at load") {
  const std::string set = R"(<!--# set var="lang" value="fr" --><!--# set var="empty" value="" -->)";
  run_output_cases({
      {set + R"(<!--# if expr="$lang" -->yes<!--# endif -->)", "yes"},
      {set + R"(<!--# if expr="$empty" -->yes<!--# else -->no<!--# endif -->)", "no"},
      {set + R"(<!--# if expr="$lang = fr" -->F<!--# elif expr="$lang = en" -->E<!--# else -->?<!--# endif -->)", "F"},
      {set + R"(<!--# if expr="$lang = de" -->D<!--# elif expr="$lang != en" -->notE<!--# else -->?<!--# endif -->)",
       "notE"},
      {set + R"(<!--# if expr="$lang = de" -->D<!--# elif expr="$lang = en" -->E<!--# else -->other<!--# endif -->)",
       "other"},
      // the first true branch only
      {set + R"(<!--# if expr="$lang" -->1<!--# elif expr="$lang" -->2<!--# endif -->)", "1"},
      // text with variables and in single quotes
      {set + R"(<!--# set var="l2" value="fr" --><!--# if expr="$lang = $l2" -->same<!--# endif -->)", "same"},
      {R"(<!--# set var="s" value=" a " --><!--# if expr="$s = ' a '" -->spaces<!--# endif -->)", "spaces"},
      {set + R"(<!--# if expr="${lang}=fr" -->tight<!--# endif -->)", "tight"},
      // nested
      {set + R"(<!--# if expr="$lang" -->a<!--# if expr="$empty" -->b<!--# else -->c<!--# endif -->d<!--# endif -->)",
       "acd"},
      {set + R"(<!--# if expr="$empty" -->a<!--# if expr="$lang" -->b<!--# else -->c<!--# endif -->d<!--# endif -->e)",
       "e"},
      // includes and ESI in a branch not taken are dropped; set there does not apply
      {set + R"(<!--# if expr="$lang = fr" --><!--# include virtual="/fr" --><!--# else --><esi:include src="/en"/>)"
             R"(<!--# set var="lang" value="en" --><!--# endif --><!--# echo var="lang" -->)",
       "[I:/fr]fr"},
  });
}

TEST_CASE("compose ssi: request variables, regular expressions and misplaced commands are load errors") {
  run_error_cases({
      {R"(<!--# echo var="uri" -->)", "1:12 variable uri" + kNotSet + "\n"},
      {"<p>\n<!--# if expr=\"$http_host = a\" -->x<!--# endif -->", "2:10 variable $http_host" + kNotSet + "\n"},
      {R"(<!--# set var="a" value="$arg_x" -->)", "1:19 variable $arg_x" + kNotSet + "\n"},
      // set after use is still unknown at the use
      {R"(<!--# echo var="late" --><!--# set var="late" value="1" -->)", "1:12 variable late" + kNotSet + "\n"},
      {R"(<!--# set var="a" value="1" --><!--# if expr="$a = /^1$/" -->x<!--# endif -->)",
       "1:41 regular expressions in SSI conditions are not supported (only = and != on text)\n"},
      {R"(<!--# set var="a" value="1" --><!--# if expr="!$a" -->x<!--# endif -->)",
       "1:41 unsupported expression \"!$a\" (supported: $name, $name = text, $name != text)\n"},
      {R"(<!--# set var="a" value="1" --><!--# if expr="$a > 2" -->x<!--# endif -->)",
       "1:41 unsupported expression \"$a > 2\" (supported: $name, $name = text, $name != text)\n"},
      {R"(<!--# if -->x<!--# endif -->)", "1:1 SSI if needs expr\n"},
      {R"(<!--# set var="a" -->)", "1:1 SSI set needs var and value\n"},
      {R"(<!--# set var="a-b" value="1" -->)", "1:11 bad variable name \"a-b\" (letters, digits and _)\n"},
      {R"(<!--# set var="a" value="1" name="x" -->)", "1:29 unknown attribute name on SSI set\n"},
      {R"(<!--# set var="a" value="1" --><!--# echo var="a" encoding="base64" -->)",
       "1:51 encoding must be entity, url or none\n"},
      {R"(<!--# echo -->)", "1:1 SSI echo needs var\n"},
      {"x\n<!--# endif -->", "2:1 endif without if\n"},
      {"<!--# else -->", "1:1 else without if\n"},
      {R"(<!--# elif expr="$a" -->)", "1:1 elif without if\n1:12 variable $a" + kNotSet + "\n"},
      {R"(<!--# set var="a" value="1" --><!--# if expr="$a" --><!--# else --><!--# else --><!--# endif -->)",
       "1:68 else after else\n"},
      {R"(<!--# set var="a" value="1" --><!--# if expr="$a" --><!--# else --><!--# elif expr="$a" --><!--# endif -->)",
       "1:68 elif after else\n"},
      {"<p>\n  <!--# set var=\"a\" value=\"1\" --><!--# if expr=\"$a\" -->open", "2:34 if without endif\n"},
      {R"(<!--# set var="a" value="1" --><!--# else x="1" -->)", "1:32 else without if\n1:43 unknown attribute x on SSI else\n"},
  });
}

TEST_CASE("compose ssi: what a branch not taken holds is checked all the same") {
  run_error_cases({
      {R"(<!--# set var="a" value="" --><!--# if expr="$a" --><esi:include/><!--# endif -->)",
       "1:53 <esi:include> without src\n"},
      {R"(<!--# set var="a" value="" --><!--# if expr="$a" --><!--# echo var="nope" --><!--# endif -->)",
       "1:64 variable nope" + kNotSet + "\n"},
  });
}
