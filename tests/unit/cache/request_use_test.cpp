// Tests for cache::request_use: which requests on a cached route use the
// cache and why the others pass it by (method, a body, the rule's bypass
// conditions), and the Cache-Status a request passed by its body gets.
// Issue 10 item 2: a GET with a body on a cached route hung, fetched with
// its Content-Length and no body.
#include <doctest/doctest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cache/policy.hpp"

namespace http = gateway::http;
using namespace gateway::cache;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Shape {
  const char* method;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  Fields fields = {};
};

http::Request request(const Shape& s) {
  http::Request r;
  r.method = s.method;
  r.target = "/api/channels/1";
  r.headers.add("Host", "example.com");
  for (const auto& [name, value] : s.fields) r.headers.add(name, value);
  r.content_length = s.content_length;
  r.chunked = s.chunked;
  return r;
}

const char* name(RequestUse u) {
  switch (u) {
    case RequestUse::cache: return "cache";
    case RequestUse::pass_method: return "pass_method";
    case RequestUse::pass_body: return "pass_body";
    case RequestUse::pass_rule: return "pass_rule";
  }
  return "?";
}

std::string crlf_to_lf(std::string s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (!(s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n')) out += s[i];
  return out;
}

}  // namespace

TEST_CASE("request_use: GET and HEAD without a body use the cache, a body or another method passes it by") {
  RuleConfig rule;
  rule.bypass_headers = {"X-Nocache"};
  struct Case {
    const char* name;
    Shape shape;
    RequestUse expected;
  };
  const std::vector<Case> cases = {
      {"plain GET", {"GET", std::nullopt}, RequestUse::cache},
      {"plain HEAD", {"HEAD", std::nullopt}, RequestUse::cache},
      {"GET with Content-Length: 0 has no body", {"GET", 0}, RequestUse::cache},
      {"GET with Content-Length: 5", {"GET", 5}, RequestUse::pass_body},
      {"GET with Content-Length: 1", {"GET", 1}, RequestUse::pass_body},
      {"GET chunked (its chunks unknown yet)", {"GET", std::nullopt, true}, RequestUse::pass_body},
      {"HEAD with Content-Length: 5", {"HEAD", 5}, RequestUse::pass_body},
      {"HEAD chunked", {"HEAD", std::nullopt, true}, RequestUse::pass_body},
      {"POST with a body: the method decides first", {"POST", 5}, RequestUse::pass_method},
      {"POST without a body", {"POST", std::nullopt}, RequestUse::pass_method},
      {"DELETE", {"DELETE", std::nullopt}, RequestUse::pass_method},
      {"OPTIONS", {"OPTIONS", std::nullopt}, RequestUse::pass_method},
      {"lowercase get is another method", {"get", std::nullopt}, RequestUse::pass_method},
      {"GET the rule bypasses", {"GET", std::nullopt, false, {{"X-Nocache", "1"}}}, RequestUse::pass_rule},
      {"GET the rule does not bypass (value 0)", {"GET", std::nullopt, false, {{"X-Nocache", "0"}}},
       RequestUse::cache},
      {"GET with a body that the rule bypasses: the body decides first",
       {"GET", 5, false, {{"X-Nocache", "1"}}}, RequestUse::pass_body},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    CHECK(std::string(name(request_use(request(c.shape), rule))) == name(c.expected));
  }
}

TEST_CASE("the fast RAM-hit path takes no GET with a body") {
  RuleConfig rule;
  CHECK(fast_hit_request(request({"GET", std::nullopt}), rule));
  CHECK(fast_hit_request(request({"GET", 0}), rule));
  CHECK_FALSE(fast_hit_request(request({"GET", 5}), rule));
  CHECK_FALSE(fast_hit_request(request({"GET", std::nullopt, true}), rule));
}

TEST_CASE("Cache-Status of a request passed by its body says so, the method and the rule keep theirs") {
  CacheStatusFacts body;
  body.request_body = true;
  CHECK(crlf_to_lf(cache_fields(CacheStatus::bypass, body)) ==
        "X-Cache: BYPASS\nCache-Status: gateway; fwd=bypass; detail=request-body\n");
  CacheStatusFacts method;
  method.method = true;
  CHECK(crlf_to_lf(cache_fields(CacheStatus::bypass, method)) == "X-Cache: BYPASS\nCache-Status: gateway; fwd=method\n");
  CHECK(crlf_to_lf(cache_fields(CacheStatus::bypass, {})) == "X-Cache: BYPASS\nCache-Status: gateway; fwd=bypass\n");
}
