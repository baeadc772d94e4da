// Tests for rewrites (gateway/rewrite.hpp): compiling rules (RE2's errors,
// groups `to` names that the regex lacks) and applying the first that
// matches to a target's path, keeping its query.
#include "gateway/rewrite.hpp"

#include <doctest/doctest.h>

#include <re2/re2.h>

#include <string>
#include <vector>

using namespace gateway::rewrite;

namespace {

struct Spec {
  const char* regex;
  const char* to;
  int redirect;
};

std::vector<Rule> rules(std::initializer_list<Spec> items) {
  std::vector<Rule> out;
  for (const auto& item : items) {
    auto compiled = compile(item.regex, item.to, item.redirect);
    REQUIRE_MESSAGE(compiled.rule, compiled.error);
    out.push_back(*compiled.rule);
  }
  return out;
}

}  // namespace

TEST_CASE("rewrite: the first matching rule, on the path, query kept") {
  const auto set = rules({{"^/old/(.*)$", "/v2/$1", 0},
                          {"^/users/([0-9]+)/posts/([0-9]+)$", "/api/posts/$2?user=$1", 0},
                          {"^/moved(/.*)?$", "/new$1", 301},
                          {"^/old/special$", "/never", 0},  // after ^/old/: never reached
                          {"legacy", "/modern", 302},
                          {"^/empty/(x*)$", "$1", 0}});
  struct Row {
    const char* target;
    const char* expected;  // nullptr: no rule matches
    int redirect;
  };
  const Row rows[] = {
      {"/old/a/b", "/v2/a/b", 0},
      {"/old/a?x=1&y=2", "/v2/a?x=1&y=2", 0},          // the query is kept
      {"/old/special", "/v2/special", 0},               // first rule wins (nginx `last`)
      {"/users/7/posts/42?x=1", "/api/posts/42?user=7", 0},  // `to` has its own query
      {"/moved", "/new", 301},                          // a group that took no part: empty
      {"/moved/page?q=1", "/new/page?q=1", 301},
      {"/a/legacy/b", "/modern", 302},                  // unanchored: anywhere in the path
      {"/empty/", "/", 0},                              // an empty result is "/"
      {"/x?/old/a", nullptr, 0},                        // the query is not matched
      {"/new/old/a", nullptr, 0},
      {"/", nullptr, 0},
  };
  for (const auto& r : rows) {
    CAPTURE(r.target);
    auto got = gateway::rewrite::apply(set, r.target);
    if (!r.expected) {
      CHECK_FALSE(got.has_value());
      continue;
    }
    REQUIRE(got.has_value());
    CHECK(got->target == r.expected);
    CHECK(got->redirect == r.redirect);
  }
  CHECK_FALSE(gateway::rewrite::apply({}, "/old/a").has_value());
}

TEST_CASE("rewrite: rules refused at compile") {
  struct Row {
    const char* regex;
    const char* to;
    const char* fragment;  // nullptr: compiles
  };
  const Row rows[] = {
      {"^/old/(.*)$", "/v2/$1", nullptr},
      {"^/a$", "/b/$0", nullptr},
      {"^/old/(.*$", "/v2/$1", "invalid regex: missing ): ^/old/(.*$"},
      {"^/(a)(b)$", "/$3", "$3 names a group the regex does not have (it has 2)"},
      {"^/a$", "/$1", "$1 names a group"},
      {"(?<=a)b", "/x", "invalid regex"},  // RE2 has no lookbehind
      {"^/a$", "b", "must start with '/'"},
      {"^/a$", "", "must start with '/'"},
      {"^/a$", "/b c", "a space, a control character or '#'"},  // would break the request line
      {"^/a$", "/b#top", "a space, a control character or '#'"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.regex);
    auto got = compile(r.regex, r.to);
    if (!r.fragment) {
      CHECK(got.rule.has_value());
      continue;
    }
    CHECK_FALSE(got.rule.has_value());
    CHECK(got.error.find(r.fragment) != std::string::npos);
  }
}
