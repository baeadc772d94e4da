// Tests for cache/policy: the RFC 9111 decisions of the shared cache, as
// tables with `now` injected (no clock, no sleeping). Each row names the rule
// it checks; expected values are exact, so a wrong boundary fails.
// Here: Cache-Control, methods and statuses, keys, storing; freshness,
// Vary, validation, invalidation and tags are in policy_freshness_test.cpp.
#include "policy_fixture.hpp"

using gateway::cache::RuleConfig;
using gateway::Duration;
using namespace gateway::cache;
using namespace gateway::cache::policy_testing;
namespace http = gateway::http;

TEST_SUITE("cache/policy") {

// --- Cache-Control ----------------------------------------------------------------

TEST_CASE("parse_response_directives: names, arguments, duplicates, malformed numbers") {
  struct Case {
    Fields headers;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {{}, ""},
      {{{"Cache-Control", "max-age=60"}}, "max-age=60"},
      {{{"Cache-Control", "MAX-AGE=60, Public"}}, "max-age=60 public"},       // names case-insensitive
      {{{"Cache-Control", "max-age=\"60\""}}, "max-age=60"},                 // quoted form accepted (RFC 9111 5.2)
      {{{"Cache-Control", "  max-age=60 ,  no-store  "}}, "max-age=60 no-store"},
      {{{"Cache-Control", "max-age = 60"}}, "max-age=60"},                   // lenient about BWS
      {{{"Cache-Control", ",,, ,max-age=5,,"}}, "max-age=5"},                // empty list elements
      {{{"Cache-Control", "max-age=5 junk, public"}}, "max-age=5 public"},   // junk after an argument ignored
      {{{"Cache-Control", "max-age=60"}, {"Cache-Control", "must-revalidate"}}, "max-age=60 must-revalidate"},
      // Duplicates: the first occurrence decides, across field lines too.
      {{{"Cache-Control", "max-age=60, max-age=10"}}, "max-age=60"},
      {{{"Cache-Control", "max-age=10"}, {"Cache-Control", "max-age=60"}}, "max-age=10"},
      {{{"Cache-Control", "max-age=abc, max-age=60"}}, "max-age=0"},
      // Malformed max-age / s-maxage: stale (0).
      {{{"Cache-Control", "max-age=abc"}}, "max-age=0"},
      {{{"Cache-Control", "max-age=-1"}}, "max-age=0"},
      {{{"Cache-Control", "max-age=1.5"}}, "max-age=0"},
      {{{"Cache-Control", "max-age="}}, "max-age=0"},
      {{{"Cache-Control", "max-age"}}, "max-age=0"},
      {{{"Cache-Control", "max-age=\" 60\""}}, "max-age=0"},
      {{{"Cache-Control", "s-maxage=x, max-age=60"}}, "max-age=60 s-maxage=0"},
      // Overflow: 2^31 (RFC 9111 1.2.2).
      {{{"Cache-Control", "max-age=99999999999999999999"}}, "max-age=2147483648"},
      {{{"Cache-Control", "max-age=2147483648"}}, "max-age=2147483648"},
      {{{"Cache-Control", "max-age=2147483647"}}, "max-age=2147483647"},
      {{{"Cache-Control", "max-age=007"}}, "max-age=7"},
      {{{"Cache-Control", "s-maxage=30, max-age=60"}}, "max-age=60 s-maxage=30"},
      // no-cache and private, unqualified and qualified.
      {{{"Cache-Control", "no-cache"}}, "no-cache"},
      {{{"Cache-Control", "No-Cache"}}, "no-cache"},
      {{{"Cache-Control", "no-cache=\"Set-Cookie\""}}, "no-cache=set-cookie"},
      {{{"Cache-Control", "no-cache=\"Set-Cookie, X-Foo\", max-age=5"}}, "max-age=5 no-cache=set-cookie,x-foo"},
      {{{"Cache-Control", "no-cache=Set-Cookie"}}, "no-cache=set-cookie"},  // token form accepted
      {{{"Cache-Control", "no-cache=\"\""}}, "no-cache"},                   // empty list: unqualified
      {{{"Cache-Control", "no-cache, no-cache=\"X-A\""}}, "no-cache no-cache=x-a"},
      {{{"Cache-Control", "private"}}, "private"},
      {{{"Cache-Control", "private=\"X-User\""}}, "private=x-user"},
      {{{"Cache-Control", "Private=\"X-User\", max-age=5"}}, "max-age=5 private=x-user"},
      {{{"Cache-Control", "public, private"}}, "private public"},
      {{{"Cache-Control", "no-store"}}, "no-store"},
      {{{"Cache-Control", "NO-STORE=1"}}, "no-store"},
      {{{"Cache-Control", "must-revalidate, proxy-revalidate, must-understand, immutable"}},
       "must-revalidate proxy-revalidate must-understand immutable"},
      // RFC 5861; malformed: absent.
      {{{"Cache-Control", "stale-while-revalidate=30, stale-if-error=600"}}, "swr=30 sie=600"},
      {{{"Cache-Control", "stale-while-revalidate=x, stale-if-error"}}, ""},
      {{{"Cache-Control", "stale-while-revalidate=0"}}, "swr=0"},
      // Quoted commas do not split the list; escapes inside quotes.
      {{{"Cache-Control", "foo=\"a,max-age=1\", max-age=5"}}, "max-age=5"},
      {{{"Cache-Control", "foo=\"a\\\",max-age=1\", max-age=5"}}, "max-age=5"},
      {{{"Cache-Control", "community=\"UCI\""}}, ""},
      // Pragma is a request field (RFC 9111 5.4): ignored in responses.
      {{{"Pragma", "no-cache"}}, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(dump(header_map(c.headers)));
    CHECK(describe(parse_response_directives(header_map(c.headers))) == c.expected);
  }
}

TEST_CASE("parse_request_directives: max-stale without value, malformed values, Pragma") {
  struct Case {
    Fields headers;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {{}, ""},
      {{{"Cache-Control", "max-age=0"}}, "max-age=0"},
      {{{"Cache-Control", "max-age=abc"}}, ""},  // malformed: absent in requests
      {{{"Cache-Control", "max-stale"}}, "max-stale=any"},
      {{{"Cache-Control", "max-stale=30"}}, "max-stale=30"},
      {{{"Cache-Control", "max-stale=\"30\""}}, "max-stale=30"},
      {{{"Cache-Control", "max-stale=abc"}}, ""},
      {{{"Cache-Control", "max-stale=5, max-stale"}}, "max-stale=5"},
      {{{"Cache-Control", "max-stale, max-stale=5"}}, "max-stale=any"},
      {{{"Cache-Control", "min-fresh=10"}}, "min-fresh=10"},
      {{{"Cache-Control", "MAX-STALE=5, Min-Fresh=3"}}, "max-stale=5 min-fresh=3"},
      {{{"Cache-Control", "no-cache"}}, "no-cache"},
      {{{"Cache-Control", "no-store, only-if-cached"}}, "no-store only-if-cached"},
      {{{"Cache-Control", "max-age=5"}, {"Cache-Control", "no-cache"}}, "max-age=5 no-cache"},
      // Pragma: no-cache only without Cache-Control directives (RFC 9111 5.4).
      {{{"Pragma", "no-cache"}}, "no-cache"},
      {{{"Pragma", "foo, No-Cache"}}, "no-cache"},
      {{{"Pragma", "no-cache"}, {"Cache-Control", "max-age=10"}}, "max-age=10"},
      {{{"Pragma", "no-cache"}, {"Cache-Control", ""}}, "no-cache"},
      {{{"Pragma", "foo"}}, ""},
  };
  for (const auto& c : cases) {
    CAPTURE(dump(header_map(c.headers)));
    CHECK(describe(parse_request_directives(header_map(c.headers))) == c.expected);
  }
}

// --- Methods and statuses -------------------------------------------------------

TEST_CASE("cacheable_method: GET and HEAD, case-sensitive") {
  CHECK(cacheable_method("GET"));
  CHECK(cacheable_method("HEAD"));
  for (const char* m : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "get", "head", ""}) {
    CAPTURE(m);
    CHECK_FALSE(cacheable_method(m));
  }
}

TEST_CASE("heuristically_cacheable: exactly the RFC 9110 15.1 list") {
  const std::vector<int> listed = {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501};
  for (int status = 100; status < 600; ++status) {
    CAPTURE(status);
    CHECK(heuristically_cacheable(status) == (std::find(listed.begin(), listed.end(), status) != listed.end()));
  }
}

// --- Keys -----------------------------------------------------------------------

TEST_CASE("cache_key: method class, host, path, query modes, extra headers and cookies") {
  using Q = RuleConfig::Query;
  struct Case {
    const char* name;
    http::Request req;
    RuleConfig rule;
    std::string expected;
  };
  auto req = [](const char* method, const char* target, Fields f) { return request(method, target, f); };
  const Fields host = {{"Host", "example.com"}};
  const std::vector<Case> cases = {
      {"plain GET", req("GET", "/a", host), {}, "GET|example.com|/a"},
      {"HEAD shares GET's key", req("HEAD", "/a", host), {}, "GET|example.com|/a"},
      {"POST keeps its method", req("POST", "/a", host), {}, "POST|example.com|/a"},
      {"host lowercased, :80 dropped", req("GET", "/a", {{"Host", "Example.COM:80"}}), {}, "GET|example.com|/a"},
      {"other port kept", req("GET", "/a", {{"Host", "example.com:8080"}}), {}, "GET|example.com:8080|/a"},
      {"IPv6 literal", req("GET", "/a", {{"Host", "[::1]:80"}}), {}, "GET|[::1]|/a"},
      {"empty port", req("GET", "/a", {{"Host", "example.com:"}}), {}, "GET|example.com|/a"},
      {"no Host", req("GET", "/a", {}), {}, "GET||/a"},
      {"path case kept", req("GET", "/A/b", host), {}, "GET|example.com|/A/b"},
      {"control byte in path encoded", req("GET", "/a b", host), {}, "GET|example.com|/a%20b"},
      {"keep: query as sent", req("GET", "/a?b=1&a=2", host), {}, "GET|example.com|/a?b=1&a=2"},
      {"keep: empty query kept", req("GET", "/a?", host), {}, "GET|example.com|/a?"},
      {"sorted: by name then value", req("GET", "/a?a=2&b=1&a=1", host), with_query(Q::sorted),
       "GET|example.com|/a?a=1&a=2&b=1"},
      {"sorted: bytewise values", req("GET", "/a?z=1&a=9&a=10", host), with_query(Q::sorted),
       "GET|example.com|/a?a=10&a=9&z=1"},
      {"sorted: empty params dropped, stable", req("GET", "/a?b&a=&&a", host), with_query(Q::sorted),
       "GET|example.com|/a?a=&a&b"},
      {"sorted: nothing left", req("GET", "/a?&&", host), with_query(Q::sorted), "GET|example.com|/a"},
      {"ignore: query dropped", req("GET", "/a?x=1", host), with_query(Q::ignore), "GET|example.com|/a"},
      {"key header present", req("GET", "/a", {{"Host", "example.com"}, {"Accept-Language", "en"}}),
       with_query(Q::keep, {"Accept-Language"}), "GET|example.com|/a|h:accept-language=en"},
      {"key header absent: bare name", req("GET", "/a", host), with_query(Q::keep, {"Accept-Language"}),
       "GET|example.com|/a|h:accept-language"},
      {"key header empty", req("GET", "/a", {{"Host", "example.com"}, {"Accept-Language", ""}}),
       with_query(Q::keep, {"Accept-Language"}), "GET|example.com|/a|h:accept-language="},
      {"key header lines combined", req("GET", "/a", {{"Host", "example.com"}, {"X-A", "1"}, {"x-a", "2"}}),
       with_query(Q::keep, {"X-A"}), "GET|example.com|/a|h:x-a=1, 2"},
      {"key header escapes % and controls",
       req("GET", "/a", {{"Host", "example.com"}, {"X-A", std::string("a%") + kKeySeparator + "b"}}),
       with_query(Q::keep, {"X-A"}), "GET|example.com|/a|h:x-a=a%25%1Fb"},
      {"headers in rule order", req("GET", "/a", {{"Host", "example.com"}, {"X-A", "1"}, {"X-B", "2"}}),
       with_query(Q::keep, {"X-B", "X-A"}), "GET|example.com|/a|h:x-b=2|h:x-a=1"},
      {"key cookie", req("GET", "/a", {{"Host", "example.com"}, {"Cookie", "a=1; session=xyz"}}),
       with_query(Q::keep, {}, {"session"}), "GET|example.com|/a|c:session=xyz"},
      {"key cookie absent", req("GET", "/a", {{"Host", "example.com"}, {"Cookie", "a=1"}}),
       with_query(Q::keep, {}, {"session"}), "GET|example.com|/a|c:session"},
      {"no Cookie field", req("GET", "/a", host), with_query(Q::keep, {}, {"session"}),
       "GET|example.com|/a|c:session"},
      {"cookie in a second Cookie field", req("GET", "/a", {{"Host", "example.com"}, {"Cookie", "a=1"}, {"Cookie", "session=s2"}}),
       with_query(Q::keep, {}, {"session"}), "GET|example.com|/a|c:session=s2"},
      {"first cookie wins", req("GET", "/a", {{"Host", "example.com"}, {"Cookie", "session=1; session=2"}}),
       with_query(Q::keep, {}, {"session"}), "GET|example.com|/a|c:session=1"},
      {"cookie names case-sensitive", req("GET", "/a", {{"Host", "example.com"}, {"Cookie", "Session=1"}}),
       with_query(Q::keep, {}, {"session"}), "GET|example.com|/a|c:session"},
      {"cookie whitespace trimmed", req("GET", "/a", {{"Host", "example.com"}, {"Cookie", "a=1;  session = v ;b"}}),
       with_query(Q::keep, {}, {"session"}), "GET|example.com|/a|c:session=v"},
      {"cookie empty value", req("GET", "/a", {{"Host", "example.com"}, {"Cookie", "session="}}),
       with_query(Q::keep, {}, {"session"}), "GET|example.com|/a|c:session="},
      {"headers then cookies", req("GET", "/a?q", {{"Host", "example.com"}, {"Cookie", "s=1"}, {"X-A", "v"}}),
       with_query(Q::keep, {"X-A"}, {"s"}), "GET|example.com|/a?q|h:x-a=v|c:s=1"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(cache_key(c.req, c.rule) == sep(c.expected));
  }
}

TEST_CASE("cache_key: distinct requests never share a key, whatever the bytes") {
  const auto rule = with_query(RuleConfig::Query::keep, {"X-A", "X-B"}, {"c"});
  const std::string s(1, kKeySeparator);
  const std::vector<http::Request> requests = {
      get("/a"),
      get("/a", {{"X-A", ""}}),                          // empty differs from absent
      get("/a", {{"X-A", "1"}, {"X-B", "2"}}),
      get("/a", {{"X-A", "1" + s + "h:x-b=2"}}),         // a value forging the next part
      get("/a", {{"X-A", "1%1Fh:x-b=2"}}),               // ... or its encoding
      get("/a", {{"X-B", "1"}}),
      get("/a", {{"X-A", "1"}}),
      get("/a", {{"Cookie", "c=1"}}),
      get("/a", {{"Cookie", "c="}}),
      get("/a", {{"X-A", "c=1"}}),
      get("/a", {{"X-A", "x" + s + "c:c=1"}}),
      get("/a?x"),
      get("/a?"),
      get("/a%3Fx"),
      request("GET", "/a", {{"Host", "example.com" + s + "/a"}}),
      request("GET", "/a", {{"Host", "example.com:81"}}),
      request("POST", "/a", {{"Host", "example.com"}}),
  };
  std::vector<std::string> keys;
  for (const auto& r : requests) keys.push_back(cache_key(r, rule));
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = i + 1; j < keys.size(); ++j) {
      CAPTURE(i);
      CAPTURE(j);
      CHECK(keys[i] != keys[j]);
    }
}

TEST_CASE("url_key names every key of a URL as itself or a prefix ending at a separator") {
  const auto sorted = with_query(RuleConfig::Query::sorted, {"X-A"}, {"c"});
  const std::string url = url_key("Example.com:80", "/a?b=1&a=2", sorted);
  CHECK(url == sep("GET|example.com|/a?a=2&b=1"));
  const auto key = cache_key(request("HEAD", "/a?b=1&a=2", {{"Host", "example.com"}, {"X-A", "1"}}), sorted);
  CHECK(key.substr(0, url.size() + 1) == url + kKeySeparator);
  CHECK(url_key("example.com", "/a", {}) == cache_key(get("/a"), {}));
  CHECK(url_key("example.com", "/a?x=1", with_query(RuleConfig::Query::ignore)) == sep("GET|example.com|/a"));
}

TEST_CASE("bypassed: a listed header or cookie neither empty nor \"0\"") {
  RuleConfig r;
  r.bypass_headers = {"X-Nocache"};
  r.bypass_cookies = {"nocache"};
  struct Case {
    Fields headers;
    bool expected;
  };
  const std::vector<Case> cases = {
      {{}, false},
      {{{"X-Nocache", "1"}}, true},
      {{{"x-nocache", "yes"}}, true},
      {{{"X-Nocache", "0"}}, false},
      {{{"X-Nocache", ""}}, false},
      {{{"X-Nocache", " 0 "}}, false},
      {{{"X-Nocache", "0"}, {"X-Nocache", "1"}}, true},
      {{{"X-Other", "1"}}, false},
      {{{"Cookie", "nocache=1"}}, true},
      {{{"Cookie", "a=b; nocache=true"}}, true},
      {{{"Cookie", "nocache=0"}}, false},
      {{{"Cookie", "nocache="}}, false},
      {{{"Cookie", "other=1"}}, false},
  };
  for (const auto& c : cases) {
    CAPTURE(dump(header_map(c.headers)));
    CHECK(bypassed(get("/a", c.headers), r) == c.expected);
  }
  CHECK_FALSE(bypassed(get("/a", {{"X-Nocache", "1"}}), RuleConfig{}));
}

// --- Storing ------------------------------------------------------------------------

TEST_CASE("can_store: every rule of RFC 9111 3 and 3.5, with a stable reason") {
  struct Case {
    const char* name;
    const char* method;
    Fields req;
    int status;
    Fields resp;
    RuleConfig rule;
    const char* reason;  // "" means stored
  };
  const std::string past = date(kNow - 3600), now = date(kNow), future = date(kNow + 3600);
  const Fields etag = {{"ETag", "\"v1\""}};
  const std::vector<Case> cases = {
      {"200 with the rule's ttl", "GET", {}, 200, {}, rule(), ""},
      {"200 max-age", "GET", {}, 200, {{"Cache-Control", "max-age=60"}}, rule(0), ""},
      // Method.
      {"HEAD: no body, shares GET's key", "HEAD", {}, 200, {{"Cache-Control", "max-age=60"}}, rule(), "method"},
      {"POST", "POST", {}, 200, {{"Cache-Control", "max-age=60"}}, rule(), "method"},
      {"PUT", "PUT", {}, 200, {}, rule(), "method"},
      // Status.
      {"100", "GET", {}, 100, {{"Cache-Control", "max-age=60"}}, rule(), "status"},
      {"101", "GET", {}, 101, {}, rule(), "status"},
      {"304 is not an entry", "GET", {}, 304, {{"Cache-Control", "max-age=60"}}, rule(), "status"},
      {"206: no range support", "GET", {}, 206, {{"Cache-Control", "max-age=60"}}, rule(), "partial content"},
      {"500 without freshness", "GET", {}, 500, {}, rule(), "status"},
      {"500 with max-age", "GET", {}, 500, {{"Cache-Control", "max-age=10"}}, rule(0), ""},
      {"500 public, rule ttl", "GET", {}, 500, {{"Cache-Control", "public"}}, rule(), ""},
      {"500 public, ttl 0", "GET", {}, 500, {{"Cache-Control", "public"}}, rule(0), "no freshness"},
      {"500 listed in valid", "GET", {}, 500, {}, with_valid(rule(0), 500, 5'000), ""},
      {"502 not listed in valid", "GET", {}, 502, {}, with_valid(rule(), 500, 5'000), "status"},
      {"302 with max-age", "GET", {}, 302, {{"Cache-Control", "max-age=60"}}, rule(0), ""},
      {"302 without freshness", "GET", {}, 302, {}, rule(), "status"},
      {"307 with Expires", "GET", {}, 307, {{"Date", now}, {"Expires", future}}, rule(0), ""},
      {"201 without freshness", "GET", {}, 201, {}, rule(), "status"},
      {"201 with max-age", "GET", {}, 201, {{"Cache-Control", "max-age=60"}}, rule(), ""},
      {"203", "GET", {}, 203, {}, rule(), ""},
      {"204", "GET", {}, 204, {}, rule(), ""},
      {"300", "GET", {}, 300, {}, rule(), ""},
      {"301", "GET", {}, 301, {}, rule(), ""},
      {"308", "GET", {}, 308, {}, rule(), ""},
      {"404", "GET", {}, 404, {}, rule(), ""},
      {"405", "GET", {}, 405, {}, rule(), ""},
      {"410", "GET", {}, 410, {}, rule(), ""},
      {"414", "GET", {}, 414, {}, rule(), ""},
      {"501", "GET", {}, 501, {}, rule(), ""},
      // no-store, private.
      {"request no-store", "GET", {{"Cache-Control", "no-store"}}, 200, {{"Cache-Control", "public, max-age=60"}}, rule(), "no-store"},
      {"response no-store", "GET", {}, 200, {{"Cache-Control", "no-store"}}, rule(), "no-store"},
      {"response NO-STORE with max-age", "GET", {}, 200, {{"Cache-Control", "max-age=60, NO-STORE"}}, rule(), "no-store"},
      {"no-store in a second field line", "GET", {}, 200, {{"Cache-Control", "max-age=60"}, {"Cache-Control", "no-store"}}, rule(), "no-store"},
      {"private", "GET", {}, 200, {{"Cache-Control", "private, max-age=60"}}, rule(), "private"},
      {"public and private: private wins", "GET", {}, 200, {{"Cache-Control", "public, private"}}, rule(), "private"},
      {"qualified private stores the rest", "GET", {}, 200, {{"Cache-Control", "private=\"X-User\", max-age=60"}}, rule(), ""},
      {"qualified no-cache stores", "GET", {}, 200, {{"Cache-Control", "no-cache=\"Set-Cookie\""}}, rule(), ""},
      // must-understand (RFC 9111 5.2.2.3).
      {"must-understand, understood status: no-store ignored", "GET", {}, 200,
       {{"Cache-Control", "must-understand, no-store, max-age=60"}}, rule(), ""},
      {"must-understand, unknown status", "GET", {}, 299, {{"Cache-Control", "must-understand, no-store, max-age=60"}}, rule(), "must-understand"},
      {"must-understand alone, unknown status", "GET", {}, 599, {{"Cache-Control", "must-understand, max-age=60"}}, rule(), "must-understand"},
      // Authorization (RFC 9111 3.5).
      {"Authorization", "GET", {{"Authorization", "Bearer x"}}, 200, {{"Cache-Control", "max-age=60"}}, rule(), "authorization"},
      {"Authorization + public", "GET", {{"Authorization", "Bearer x"}}, 200, {{"Cache-Control", "public"}}, rule(), ""},
      {"Authorization + s-maxage", "GET", {{"Authorization", "Bearer x"}}, 200, {{"Cache-Control", "s-maxage=60"}}, rule(0), ""},
      {"Authorization + must-revalidate", "GET", {{"Authorization", "Bearer x"}}, 200, {{"Cache-Control", "must-revalidate"}}, rule(), ""},
      {"Authorization + proxy-revalidate is not enough", "GET", {{"Authorization", "Bearer x"}}, 200,
       {{"Cache-Control", "proxy-revalidate, max-age=60"}}, rule(), "authorization"},
      // Set-Cookie.
      {"Set-Cookie", "GET", {}, 200, {{"Set-Cookie", "s=1"}, {"Cache-Control", "max-age=60"}}, rule(), "set-cookie"},
      {"Set-Cookie allowed by the rule", "GET", {}, 200, {{"Set-Cookie", "s=1"}}, storing_set_cookie(rule()), ""},
      // Vary.
      {"Vary: *", "GET", {}, 200, {{"Vary", "*"}, {"Cache-Control", "max-age=60"}}, rule(), "vary *"},
      {"Vary: Accept, *", "GET", {}, 200, {{"Vary", "Accept, *"}}, rule(), "vary *"},
      {"Vary: * in a second line", "GET", {}, 200, {{"Vary", "Accept"}, {"Vary", "*"}}, rule(), "vary *"},
      {"Vary: Accept", "GET", {}, 200, {{"Vary", "Accept"}}, rule(), ""},
      // Freshness from somewhere.
      {"no freshness, ttl 0", "GET", {}, 200, {}, rule(0), "no freshness"},
      {"404, ttl 0", "GET", {}, 404, {}, rule(0), "no freshness"},
      {"ttl 0 but max-age", "GET", {}, 200, {{"Cache-Control", "max-age=60"}}, rule(0), ""},
      {"valid 0 for the status: not cached", "GET", {}, 404, {}, with_valid(rule(), 404, 0), "no freshness"},
      {"valid 0 loses to max-age without override", "GET", {}, 200, {{"Cache-Control", "max-age=60"}}, with_valid(rule(), 200, 0), ""},
      {"valid 0 with override: not cached", "GET", {}, 200, {{"Cache-Control", "max-age=60"}}, overriding(with_valid(rule(), 200, 0)), "no freshness"},
      {"override gives a no-store response no lifetime", "GET", {}, 200, {{"Cache-Control", "no-store"}}, overriding(rule()), "no-store"},
      // Lifetime 0: stored only if it can be revalidated or served stale.
      {"max-age=0, no validator", "GET", {}, 200, {{"Cache-Control", "max-age=0"}}, rule(), "no validator"},
      {"max-age=0 + ETag", "GET", {}, 200, {{"Cache-Control", "max-age=0"}, {"ETag", "\"v1\""}}, rule(), ""},
      {"max-age=0 + Last-Modified", "GET", {}, 200, {{"Cache-Control", "max-age=0"}, {"Last-Modified", past}}, rule(), ""},
      {"max-age=0 + unparseable Last-Modified", "GET", {}, 200, {{"Cache-Control", "max-age=0"}, {"Last-Modified", "yesterday"}}, rule(), "no validator"},
      {"max-age=0 + stale-while-revalidate", "GET", {}, 200, {{"Cache-Control", "max-age=0, stale-while-revalidate=30"}}, rule(), ""},
      {"max-age=0 + stale-if-error", "GET", {}, 200, {{"Cache-Control", "max-age=0, stale-if-error=30"}}, rule(), ""},
      {"max-age=0 + must-revalidate + stale-if-error", "GET", {}, 200,
       {{"Cache-Control", "max-age=0, must-revalidate, stale-if-error=30"}}, rule(), "no validator"},
      {"s-maxage=0 + stale-while-revalidate", "GET", {}, 200, {{"Cache-Control", "s-maxage=0, stale-while-revalidate=30"}}, rule(), "no validator"},
      {"no-cache, no validator", "GET", {}, 200, {{"Cache-Control", "no-cache, max-age=60"}}, rule(), "no validator"},
      {"no-cache + ETag", "GET", {}, 200, {{"Cache-Control", "no-cache"}, {"ETag", "\"v1\""}}, rule(), ""},
      {"Expires invalid: stale", "GET", {}, 200, {{"Expires", "0"}}, rule(), "no validator"},
      {"Expires invalid + ETag", "GET", {}, 200, {{"Expires", "0"}, {"ETag", "\"v1\""}}, rule(), ""},
      {"Expires past", "GET", {}, 200, {{"Date", now}, {"Expires", past}}, rule(), "no validator"},
      {"Expires past + ETag", "GET", {}, 200, {{"Date", now}, {"Expires", past}, {"ETag", "\"v1\""}}, rule(), ""},
      {"Expires without Date", "GET", {}, 200, {{"Expires", future}}, rule(0), ""},
      {"Expires invalid beats the rule's ttl", "GET", {}, 200, {{"Expires", "never"}}, rule(), "no validator"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto d = can_store(request(c.method, "/a", c.req), response(c.status, c.resp), c.rule);
    CHECK(std::string(d.reason) == c.reason);
    CHECK(d.store == (std::string(c.reason).empty()));
  }
}

}  // TEST_SUITE
