// Tests for gateway/compose/json: the strict RFC 8259 validator (grammar,
// UTF-8, depth bound) and merging parts into one object. Table-driven.
#include "gateway/compose/json.hpp"

#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

using gateway::compose::merge_json;
using gateway::compose::valid_json;

TEST_CASE("compose json: valid texts") {
  const std::vector<std::string> cases = {
      "0",
      "-0",
      "123",
      "-1",
      "1.5",
      "-0.0",
      "1e10",
      "1E+10",
      "1e-10",
      "0.5e3",
      "123456789012345678901234567890",  // any length: values are copied, not converted
      "true",
      "false",
      "null",
      R"("")",
      R"("a")",
      R"("\"\\\/\b\f\n\r\t")",
      R"("\u0041\u00e9\u00E9")",
      R"("\uD83D\uDE00")",             // a surrogate pair
      R"("\ud800")",                   // a lone surrogate: the grammar allows it (RFC 8259 8.2)
      R"("\udc00x")",
      "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF\"",  // 2-, 3- and 4-byte UTF-8 up to U+10FFFF
      "\"\x7F\"",                      // DEL is not a control character for JSON
      "[]",
      "{}",
      "[1,2,3]",
      R"({"a":1,"b":[true,false,null],"c":{"d":"e"}})",
      " \t\r\n{ \"a\" : [ 1 , 2 ] } \n",
      "[[[[]]]]",
      R"({"":0})",
      R"({"a":1,"a":2})",              // duplicate names are allowed by the grammar
      R"([{"a":[{"b":{}}]},[],"x",-1.0e-0])",
  };
  for (const auto& text : cases) {
    CAPTURE(text);
    CHECK(valid_json(text));
  }
}

TEST_CASE("compose json: invalid texts") {
  const std::vector<std::string> cases = {
      "",
      " \n ",
      "\xEF\xBB\xBF{}",  // byte order mark
      "01",
      "-",
      "-a",
      "+1",
      "1.",
      ".5",
      "1.e5",
      "1e",
      "1e+",
      "0x10",
      "NaN",
      "Infinity",
      "-Infinity",
      "True",
      "nul",
      "nulll",
      "'a'",
      "\"abc",
      "\"a\tb\"",      // raw control characters
      "\"a\nb\"",
      std::string("\"\0\"", 3),
      R"("\x41")",
      R"("\a")",
      R"("\u12")",
      R"("\u12G4")",
      R"("\")",
      "[1,]",
      "[,1]",
      "[1 2]",
      "[1,,2]",
      R"({"a":1,})",
      R"({"a" 1})",
      "{a:1}",
      R"({"a":})",
      R"({"a"})",
      "{1:2}",
      "[1]]",
      "[1] x",
      "{} {}",
      "1 2",
      "[",
      "]",
      "{",
      R"({"a":1)",
      "\"\xC0\xAF\"",          // overlong '/'
      "\"\xE0\x80\xAF\"",      // overlong, 3 bytes
      "\"\xED\xA0\x80\"",      // UTF-8-encoded surrogate
      "\"\xF4\x90\x80\x80\"",  // above U+10FFFF
      "\"\xF5\x80\x80\x80\"",
      "\"\x80\"",              // lone continuation byte
      "\"\xC3\"",              // truncated sequence
      "\"\xFF\"",
      "/* comment */ 1",
      std::string("[1]\0", 4),  // trailing NUL
      "\f1",                    // form feed is not JSON whitespace
      "\xC2\xA0" "1",           // nor is NBSP
  };
  for (const auto& text : cases) {
    CAPTURE(text);
    CHECK_FALSE(valid_json(text));
  }
}

TEST_CASE("compose json: nesting is bounded by max_depth") {
  auto arrays = [](int n) { return std::string(static_cast<std::size_t>(n), '[') + std::string(static_cast<std::size_t>(n), ']'); };
  auto objects = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "{\"k\":";
    s += "0";
    for (int i = 0; i < n; ++i) s += "}";
    return s;
  };
  CHECK(valid_json(arrays(64)));
  CHECK_FALSE(valid_json(arrays(65)));
  CHECK(valid_json(objects(64)));
  CHECK_FALSE(valid_json(objects(65)));
  CHECK(valid_json("[[1],[2],[[3]]]", 3));
  CHECK_FALSE(valid_json("[[1],[2],[[[3]]]]", 3));
  CHECK(valid_json("1", 0));
  CHECK(valid_json("\"s\"", 0));
  CHECK_FALSE(valid_json("[]", 0));
  CHECK(valid_json("[]", 1));
  CHECK_FALSE(valid_json("[[]]", 1));
  // Deep input neither overflows the stack nor is accepted over the bound.
  CHECK_FALSE(valid_json(arrays(200'000)));
  CHECK(valid_json(arrays(200'000), 200'000));
  CHECK_FALSE(valid_json(std::string(200'000, '[')));
}

TEST_CASE("compose json: merge_json writes keys in order, escaped, values trimmed") {
  using Parts = std::vector<std::pair<std::string, std::string_view>>;
  struct Case {
    Parts parts;
    std::string want;
  };
  const std::vector<Case> cases = {
      {{}, "{}"},
      {{{"channel", R"({"id":1,"name":"x"})"}}, R"({"channel":{"id":1,"name":"x"}})"},
      {{{"channel", " {\"id\" : 1}\r\n"}, {"chat", "\t[1, 2]  "}, {"n", "42"}, {"s", "\"str\""}},
       R"({"channel":{"id" : 1},"chat":[1, 2],"n":42,"s":"str"})"},
      {{{"b", "1"}, {"a", "2"}, {"b", "3"}}, R"({"b":1,"a":2,"b":3})"},  // order and duplicates as given
      {{{"quote\"back\\slash", "null"}}, R"({"quote\"back\\slash":null})"},
      {{{"ctl\n\r\t\b\f\x01\x1f", "true"}}, R"({"ctl\n\r\t\b\f\u0001\u001f":true})"},
      {{{"caf\xC3\xA9/<x>", "0"}}, "{\"caf\xC3\xA9/<x>\":0}"},  // UTF-8 and '/' copied
      {{{"", "[]"}}, R"({"":[]})"},
      {{{"gone", "  "}, {"x", ""}}, R"({"gone":null,"x":null})"},  // empty value: null
  };
  for (const auto& c : cases) {
    auto got = merge_json(c.parts);
    CHECK(got == c.want);
    CHECK(valid_json(got));
  }
}
