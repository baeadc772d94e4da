// Tests for the pieces of the client's fast hit path (gateway/cache_proxy's
// queue_memory_hit): which client requests it may answer, and the key and
// Cache-Status fields it builds into reused buffers, which must equal what
// the full path builds.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "cache/policy.hpp"

namespace http = gateway::http;
using namespace gateway::cache;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

http::Request request(std::string method, const Fields& fields, std::string target = "/a?b=1") {
  http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

}  // namespace

TEST_CASE("fast_client_hit_request: a plain GET without directives or preconditions of its own") {
  RuleConfig rule;
  rule.bypass_headers = {"X-Nocache"};
  struct Row {
    const char* name;
    std::string method;
    Fields fields;
    bool fast;
  };
  const Row rows[] = {
      {"plain GET", "GET", {{"Host", "h"}, {"Accept", "*/*"}, {"User-Agent", "wrk"}}, true},
      {"HEAD", "HEAD", {{"Host", "h"}}, false},
      {"POST", "POST", {{"Host", "h"}}, false},
      {"bypassed", "GET", {{"Host", "h"}, {"X-Nocache", "1"}}, false},
      {"Authorization", "GET", {{"Host", "h"}, {"Authorization", "Basic eDp5"}}, false},
      {"Range", "GET", {{"Host", "h"}, {"Range", "bytes=0-1"}}, false},
      {"Cache-Control no-cache", "GET", {{"Host", "h"}, {"Cache-Control", "no-cache"}}, false},
      {"Cache-Control max-stale", "GET", {{"Host", "h"}, {"Cache-Control", "max-stale=30"}}, false},
      {"only-if-cached", "GET", {{"Host", "h"}, {"cache-control", "only-if-cached"}}, false},
      {"Pragma", "GET", {{"Host", "h"}, {"Pragma", "no-cache"}}, false},
      {"If-None-Match", "GET", {{"Host", "h"}, {"If-None-Match", "\"x\""}}, false},
      {"If-Modified-Since", "GET", {{"Host", "h"}, {"If-Modified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"}}, false},
      {"If-Match", "GET", {{"Host", "h"}, {"If-Match", "\"x\""}}, false},
      {"If-Unmodified-Since", "GET", {{"Host", "h"}, {"If-Unmodified-Since", "Tue, 14 Nov 2023 22:13:20 GMT"}}, false},
      {"If-Range", "GET", {{"Host", "h"}, {"If-Range", "\"x\""}}, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    CHECK(fast_client_hit_request(request(r.method, r.fields), rule) == r.fast);
  }
}

TEST_CASE("append_cache_key appends exactly cache_key, for any rule") {
  RuleConfig plain, keyed;
  keyed.key_headers = {"Accept-Language"};
  keyed.key_cookies = {"session"};
  const http::Request reqs[] = {
      request("GET", {{"Host", "Example.com"}}),
      request("HEAD", {{"Host", "example.com:80"}}, "/p?z=1&a=2"),
      request("GET", {{"Host", "h"}, {"Accept-Language", "en"}, {"Cookie", "a=1; session=abc"}}),
  };
  for (const auto* rule : {&plain, &keyed}) {
    for (const auto& req : reqs) {
      std::string out = "previous";
      append_cache_key(out, req, *rule);
      CHECK(out == "previous" + cache_key(req, *rule));
    }
  }
}

TEST_CASE("append_cache_fields appends exactly cache_fields") {
  CacheStatusFacts hit;
  hit.age = 3;
  hit.ttl = 57;
  hit.accept_ranges = true;
  CacheStatusFacts heuristic = hit;
  heuristic.heuristic = true;
  heuristic.accept_ranges = false;
  CacheStatusFacts miss;
  miss.upstream_status = 200;
  miss.not_stored = "admission";
  const std::pair<CacheStatus, CacheStatusFacts> rows[] = {
      {CacheStatus::hit, hit}, {CacheStatus::hit, heuristic}, {CacheStatus::miss, miss}, {CacheStatus::expired, miss}};
  for (const auto& [status, facts] : rows) {
    std::string out = "X: y\r\n";
    append_cache_fields(out, status, facts);
    CHECK(out == "X: y\r\n" + cache_fields(status, facts));
  }
  std::string out;
  append_cache_fields(out, CacheStatus::hit, hit);
  CHECK(out == "Age: 3\r\nAccept-Ranges: bytes\r\nX-Cache: HIT\r\nCache-Status: gateway; hit; ttl=57\r\n");
}
