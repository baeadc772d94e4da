// Tests for cache/policy: the RFC 9111 decisions of the shared cache, as
// tables with `now` injected (no clock, no sleeping). Each row names the rule
// it checks; expected values are exact, so a wrong boundary fails.
#include "cache/policy.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "base/http/serializer.hpp"

namespace http = gateway::http;
using gateway::cache::RuleConfig;
using gateway::Duration;
using namespace gateway::cache;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr Seconds kNow = 1'700'000'000;  // 2023-11-14T22:13:20Z

http::HeaderMap header_map(const Fields& fields) {
  http::HeaderMap h;
  for (const auto& [name, value] : fields) h.add(name, value);
  return h;
}

http::Request request(std::string method, std::string target, const Fields& fields) {
  http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  r.headers = header_map(fields);
  return r;
}

http::Request get(std::string target, Fields fields = {}) {
  fields.insert(fields.begin(), {"Host", "example.com"});
  return request("GET", std::move(target), fields);
}

http::Response response(int status, const Fields& fields) {
  http::Response r;
  r.status = status;
  r.headers = header_map(fields);
  return r;
}

std::string date(Seconds t) { return http::format_http_date(t); }

// Expected keys are written with '|' for kKeySeparator.
std::string sep(std::string s) {
  std::replace(s.begin(), s.end(), '|', kKeySeparator);
  return s;
}

std::string dump(const http::HeaderMap& h) {
  std::string out;
  h.for_each([&](const http::HeaderMap::Field& f) {
    out += f.name;
    out += ": ";
    out += f.value;
    out += "\n";
  });
  return out;
}

std::string join(const std::vector<std::string>& v, const char* with = ",") {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += with;
    out += s;
  }
  return out;
}

// A canonical one-line description, so a table row states every field.
std::string describe(const ResponseDirectives& d) {
  std::vector<std::string> parts;
  if (d.max_age) parts.push_back("max-age=" + std::to_string(*d.max_age));
  if (d.s_maxage) parts.push_back("s-maxage=" + std::to_string(*d.s_maxage));
  if (d.no_store) parts.push_back("no-store");
  if (d.no_cache) parts.push_back("no-cache");
  if (!d.no_cache_fields.empty()) parts.push_back("no-cache=" + join(d.no_cache_fields));
  if (d.private_) parts.push_back("private");
  if (!d.private_fields.empty()) parts.push_back("private=" + join(d.private_fields));
  if (d.public_) parts.push_back("public");
  if (d.must_revalidate) parts.push_back("must-revalidate");
  if (d.proxy_revalidate) parts.push_back("proxy-revalidate");
  if (d.must_understand) parts.push_back("must-understand");
  if (d.immutable) parts.push_back("immutable");
  if (d.stale_while_revalidate) parts.push_back("swr=" + std::to_string(*d.stale_while_revalidate));
  if (d.stale_if_error) parts.push_back("sie=" + std::to_string(*d.stale_if_error));
  return join(parts, " ");
}

std::string describe(const RequestDirectives& d) {
  std::vector<std::string> parts;
  if (d.max_age) parts.push_back("max-age=" + std::to_string(*d.max_age));
  if (d.max_stale)
    parts.push_back(*d.max_stale == std::numeric_limits<Seconds>::max() ? std::string("max-stale=any")
                                                                        : "max-stale=" + std::to_string(*d.max_stale));
  if (d.min_fresh) parts.push_back("min-fresh=" + std::to_string(*d.min_fresh));
  if (d.no_cache) parts.push_back("no-cache");
  if (d.no_store) parts.push_back("no-store");
  if (d.only_if_cached) parts.push_back("only-if-cached");
  return join(parts, " ");
}

std::string describe(const Freshness& f) {
  std::string out = "lifetime=" + std::to_string(f.lifetime);
  if (f.stale_while_revalidate) out += " swr=" + std::to_string(f.stale_while_revalidate);
  if (f.stale_if_error) out += " sie=" + std::to_string(f.stale_if_error);
  if (f.must_revalidate) out += " must-revalidate";
  if (f.no_cache) out += " no-cache";
  return out;
}

const char* name_of(Usability u) {
  switch (u) {
    case Usability::fresh: return "fresh";
    case Usability::stale_revalidate: return "stale_revalidate";
    case Usability::stale_while_revalidate: return "stale_while_revalidate";
  }
  return "?";
}

// Rules, built by small steps.
RuleConfig rule(long long ttl_ms = 60'000) {
  RuleConfig r;
  r.ttl = Duration(ttl_ms);
  return r;
}
RuleConfig with_valid(RuleConfig r, int status, long long ms) {
  r.valid.emplace_back(status, Duration(ms));
  return r;
}
RuleConfig overriding(RuleConfig r) {
  r.override = true;
  return r;
}
RuleConfig storing_set_cookie(RuleConfig r) {
  r.store_set_cookie = true;
  return r;
}
RuleConfig with_query(RuleConfig::Query q, std::vector<std::string> key_headers = {},
                           std::vector<std::string> key_cookies = {}) {
  RuleConfig r;
  r.query = q;
  r.key_headers = std::move(key_headers);
  r.key_cookies = std::move(key_cookies);
  return r;
}

Freshness fr(Seconds lifetime, Seconds swr = 0, Seconds sie = 0, bool must_revalidate = false, bool no_cache = false) {
  Freshness f;
  f.lifetime = lifetime;
  f.stale_while_revalidate = swr;
  f.stale_if_error = sie;
  f.must_revalidate = must_revalidate;
  f.no_cache = no_cache;
  return f;
}

RequestDirectives req_cc(const std::string& cache_control) {
  return parse_request_directives(header_map(cache_control.empty() ? Fields{} : Fields{{"Cache-Control", cache_control}}));
}

}  // namespace

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

// --- Freshness --------------------------------------------------------------------------

TEST_CASE("freshness: s-maxage > max-age > Expires - Date > valid > ttl, override, flags") {
  struct Case {
    const char* name;
    int status;
    Fields resp;
    RuleConfig rule;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"max-age", 200, {{"Cache-Control", "max-age=60"}}, rule(0), "lifetime=60"},
      {"s-maxage wins, implies proxy-revalidate", 200, {{"Cache-Control", "max-age=60, s-maxage=30"}}, rule(0),
       "lifetime=30 must-revalidate"},
      {"s-maxage=0", 200, {{"Cache-Control", "s-maxage=0, max-age=60"}}, rule(0), "lifetime=0 must-revalidate"},
      {"malformed s-maxage: 0", 200, {{"Cache-Control", "s-maxage=x, max-age=60"}}, rule(0), "lifetime=0 must-revalidate"},
      {"malformed max-age: 0, not the ttl", 200, {{"Cache-Control", "max-age=abc"}}, rule(), "lifetime=0"},
      {"max-age beats Expires", 200, {{"Cache-Control", "max-age=60"}, {"Date", date(kNow)}, {"Expires", date(kNow + 3600)}},
       rule(0), "lifetime=60"},
      {"Expires - Date", 200, {{"Date", date(kNow)}, {"Expires", date(kNow + 3600)}}, rule(), "lifetime=3600"},
      {"Expires - Date, not - now", 200, {{"Date", date(kNow - 600)}, {"Expires", date(kNow + 3600)}}, rule(), "lifetime=4200"},
      {"Expires, no Date: response_time", 200, {{"Expires", date(kNow + 100)}}, rule(), "lifetime=100"},
      {"Expires, bad Date: response_time", 200, {{"Date", "garbage"}, {"Expires", date(kNow + 100)}}, rule(), "lifetime=100"},
      {"Expires in the past", 200, {{"Date", date(kNow)}, {"Expires", date(kNow - 10)}}, rule(), "lifetime=0"},
      {"Expires: 0", 200, {{"Expires", "0"}}, rule(), "lifetime=0"},
      {"two Expires: invalid, in the past (RFC 9111 5.3)", 200, {{"Date", date(kNow)}, {"Expires", date(kNow + 10)}, {"Expires", date(kNow + 99)}}, rule(), "lifetime=0"},
      {"obsolete date format", 200, {{"Date", "Tuesday, 14-Nov-23 22:13:20 GMT"}, {"Expires", "Tue Nov 14 22:23:20 2023"}}, rule(), "lifetime=600"},
      {"the rule's ttl", 200, {}, rule(), "lifetime=60"},
      {"ttl rounded up to a second", 200, {}, rule(1'500), "lifetime=2"},
      {"valid for the status beats ttl", 200, {}, with_valid(rule(), 200, 10'000), "lifetime=10"},
      {"valid for another status", 200, {}, with_valid(rule(), 404, 10'000), "lifetime=60"},
      {"valid for 404", 404, {}, with_valid(rule(), 404, 10'000), "lifetime=10"},
      {"nothing at all", 200, {}, rule(0), "lifetime=0"},
      {"override: ttl beats max-age", 200, {{"Cache-Control", "max-age=600"}}, overriding(rule()), "lifetime=60"},
      {"override: valid beats s-maxage", 200, {{"Cache-Control", "s-maxage=600"}}, overriding(with_valid(rule(), 200, 5'000)),
       "lifetime=5 must-revalidate"},
      {"override without a rule ttl", 200, {{"Cache-Control", "max-age=600"}}, overriding(rule(0)), "lifetime=600"},
      {"override beats Expires", 200, {{"Date", date(kNow)}, {"Expires", date(kNow - 10)}}, overriding(rule()), "lifetime=60"},
      {"no-cache", 200, {{"Cache-Control", "no-cache, max-age=60"}}, rule(), "lifetime=60 no-cache"},
      {"qualified no-cache is not no-cache", 200, {{"Cache-Control", "no-cache=\"Set-Cookie\""}}, rule(), "lifetime=60"},
      {"must-revalidate", 200, {{"Cache-Control", "must-revalidate"}}, rule(), "lifetime=60 must-revalidate"},
      {"proxy-revalidate", 200, {{"Cache-Control", "proxy-revalidate"}}, rule(), "lifetime=60 must-revalidate"},
      {"stale windows", 200, {{"Cache-Control", "max-age=1, stale-while-revalidate=30, stale-if-error=600"}}, rule(),
       "lifetime=1 swr=30 sie=600"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(describe(freshness(response(c.status, c.resp), c.rule, kNow)) == c.expected);
  }
}

TEST_CASE("corrected_initial_age: RFC 9111 4.2.3") {
  const Seconds req_t = kNow - 2, resp_t = kNow;
  struct Case {
    const char* name;
    Fields headers;
    Seconds request_time, response_time, expected;
  };
  const std::vector<Case> cases = {
      {"Date = response_time: the response delay", {{"Date", date(resp_t)}}, req_t, resp_t, 2},
      {"apparent age wins", {{"Date", date(resp_t - 10)}}, req_t, resp_t, 10},
      {"Age + delay wins", {{"Date", date(resp_t - 10)}, {"Age", "30"}}, req_t, resp_t, 32},
      {"Date in the future: apparent age 0", {{"Date", date(resp_t + 5)}}, req_t, resp_t, 2},
      {"no Date", {{"Age", "5"}}, req_t, resp_t, 7},
      {"bad Date", {{"Date", "soon"}, {"Age", "5"}}, req_t, resp_t, 7},
      {"bad Age ignored", {{"Date", date(resp_t)}, {"Age", "abc"}}, req_t, resp_t, 2},
      {"negative Age ignored", {{"Date", date(resp_t)}, {"Age", "-5"}}, req_t, resp_t, 2},
      {"Age list: the first", {{"Age", "10, 20"}}, req_t, resp_t, 12},
      {"two Age fields: the first", {{"Age", "10"}, {"Age", "20"}}, req_t, resp_t, 12},
      {"huge Age: 2^31", {{"Age", "99999999999"}}, req_t, resp_t, 2'147'483'648 + 2},
      {"request after response: no delay", {{"Age", "5"}}, resp_t + 5, resp_t, 5},
      {"nothing", {}, resp_t, resp_t, 0},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(corrected_initial_age(header_map(c.headers), c.request_time, c.response_time) == c.expected);
  }
}

TEST_CASE("current_age adds the time resident") {
  CHECK(current_age(10, kNow, kNow) == 10);
  CHECK(current_age(10, kNow, kNow + 5) == 15);
  CHECK(current_age(10, kNow, kNow - 5) == 10);  // clock stepped back
}

TEST_CASE("usability: boundaries, stale-while-revalidate, request directives") {
  struct Case {
    const char* name;
    Freshness f;
    Seconds age;
    const char* request_cc;
    bool honor;
    Usability expected;
  };
  using U = Usability;
  const std::vector<Case> cases = {
      {"age 0", fr(60), 0, "", false, U::fresh},
      {"age 59", fr(60), 59, "", false, U::fresh},
      {"age == lifetime is stale", fr(60), 60, "", false, U::stale_revalidate},
      {"age 61", fr(60), 61, "", false, U::stale_revalidate},
      {"lifetime 0", fr(0), 0, "", false, U::stale_revalidate},
      // stale-while-revalidate: usable while lifetime + window > age.
      {"swr: still fresh", fr(60, 30), 59, "", false, U::fresh},
      {"swr: just stale", fr(60, 30), 60, "", false, U::stale_while_revalidate},
      {"swr: last second", fr(60, 30), 89, "", false, U::stale_while_revalidate},
      {"swr: window over", fr(60, 30), 90, "", false, U::stale_revalidate},
      {"swr + must-revalidate", fr(60, 30, 0, true), 60, "", false, U::stale_revalidate},
      {"must-revalidate while fresh", fr(60, 0, 0, true), 59, "", false, U::fresh},
      // no-cache: always revalidate.
      {"no-cache, age 0", fr(60, 0, 0, false, true), 0, "", false, U::stale_revalidate},
      {"no-cache in swr window", fr(60, 30, 0, false, true), 70, "", false, U::stale_revalidate},
      // Request no-cache / Pragma.
      {"request no-cache honoured", fr(60), 0, "no-cache", true, U::stale_revalidate},
      {"request no-cache ignored", fr(60), 0, "no-cache", false, U::fresh},
      // Request max-age: age <= max-age.
      {"max-age=10, age 10", fr(60), 10, "max-age=10", true, U::fresh},
      {"max-age=10, age 11", fr(60), 11, "max-age=10", true, U::stale_revalidate},
      {"max-age=10, age 11, ignored", fr(60), 11, "max-age=10", false, U::fresh},
      {"max-age=0, age 0", fr(60), 0, "max-age=0", true, U::fresh},
      {"max-age=0, age 1", fr(60), 1, "max-age=0", true, U::stale_revalidate},
      {"max-age=0 forbids swr", fr(60, 30), 70, "max-age=0", true, U::stale_revalidate},
      {"max-age=100 allows swr", fr(60, 30), 70, "max-age=100", true, U::stale_while_revalidate},
      // Request min-fresh: lifetime - age >= min-fresh.
      {"min-fresh=10, 10 left", fr(60), 50, "min-fresh=10", true, U::fresh},
      {"min-fresh=10, 9 left", fr(60), 51, "min-fresh=10", true, U::stale_revalidate},
      {"min-fresh=10, 9 left, ignored", fr(60), 51, "min-fresh=10", false, U::fresh},
      // Request max-stale: staleness <= max-stale.
      {"max-stale=10, stale by 10", fr(60), 70, "max-stale=10", true, U::fresh},
      {"max-stale=10, stale by 11", fr(60), 71, "max-stale=10", true, U::stale_revalidate},
      {"max-stale=10, ignored", fr(60), 70, "max-stale=10", false, U::stale_revalidate},
      {"max-stale, any staleness", fr(60), 1'000'000'000, "max-stale", true, U::fresh},
      {"max-stale vs must-revalidate", fr(60, 0, 0, true), 61, "max-stale", true, U::stale_revalidate},
      {"max-stale vs no-cache", fr(60, 0, 0, false, true), 61, "max-stale", true, U::stale_revalidate},
      {"max-stale too small, swr applies", fr(60, 30), 70, "max-stale=5", true, U::stale_while_revalidate},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(std::string(name_of(usability(c.f, c.age, req_cc(c.request_cc), c.honor))) == name_of(c.expected));
  }
  // Pragma: no-cache from an HTTP/1.0 client.
  const auto pragma = parse_request_directives(header_map({{"Pragma", "no-cache"}}));
  CHECK(usability(fr(60), 0, pragma, true) == Usability::stale_revalidate);
}

TEST_CASE("may_serve_stale: stale-if-error window, use_stale, revalidation directives") {
  using S = StaleIf;
  struct Case {
    const char* name;
    Freshness f;
    Seconds age;
    std::vector<StaleIf> use_stale;
    StaleIf failure;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"nothing allows it", fr(60), 100, {}, S::error, false},
      {"fresh anyway", fr(60), 10, {}, S::error, true},
      {"sie: stale by 40 of 100", fr(60, 0, 100), 100, {}, S::error, true},
      {"sie: stale by 99", fr(60, 0, 100), 159, {}, S::error, true},
      {"sie: stale by 100, window over", fr(60, 0, 100), 160, {}, S::error, false},
      {"sie covers timeout", fr(60, 0, 100), 100, {}, S::timeout, true},
      {"sie covers 500", fr(60, 0, 100), 100, {}, S::http_500, true},
      {"sie covers 502", fr(60, 0, 100), 100, {}, S::http_502, true},
      {"sie covers 503", fr(60, 0, 100), 100, {}, S::http_503, true},
      {"sie covers 504", fr(60, 0, 100), 100, {}, S::http_504, true},
      {"sie is not about updating", fr(60, 0, 100), 100, {}, S::updating, false},
      {"use_stale error, no time limit", fr(60), 1'000'000, {S::error}, S::error, true},
      {"use_stale error, not timeout", fr(60), 100, {S::error}, S::timeout, false},
      {"use_stale http_502", fr(60), 100, {S::http_502}, S::http_502, true},
      {"use_stale http_502, not 503", fr(60), 100, {S::http_502}, S::http_503, false},
      {"use_stale several", fr(60), 100, {S::error, S::timeout, S::http_503}, S::http_503, true},
      {"use_stale updating is not about errors", fr(60), 100, {S::updating}, S::error, false},
      {"use_stale updating while another request updates", fr(60), 100, {S::updating}, S::updating, true},
      {"updating needs use_stale updating", fr(60, 0, 100), 100, {S::error}, S::updating, false},
      {"must-revalidate beats use_stale updating", fr(60, 0, 0, true), 100, {S::updating}, S::updating, false},
      {"no-cache beats use_stale updating", fr(60, 0, 0, false, true), 100, {S::updating}, S::updating, false},
      // RFC 9111 4.2.4: must-revalidate / proxy-revalidate / s-maxage / no-cache forbid it.
      {"must-revalidate beats stale-if-error", fr(60, 0, 100, true), 100, {}, S::error, false},
      {"must-revalidate beats use_stale", fr(60, 0, 0, true), 100, {S::error}, S::error, false},
      {"no-cache beats use_stale", fr(60, 0, 0, false, true), 100, {S::error}, S::error, false},
      {"no-cache even when fresh", fr(60, 0, 0, false, true), 10, {}, S::error, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    RuleConfig r;
    for (auto s : c.use_stale) r.use_stale.add(s);
    CHECK(may_serve_stale(c.f, c.age, r, c.failure) == c.expected);
  }
}

TEST_CASE("stale_condition: the 5xx that use_stale and stale-if-error know") {
  CHECK(stale_condition(500) == StaleIf::http_500);
  CHECK(stale_condition(502) == StaleIf::http_502);
  CHECK(stale_condition(503) == StaleIf::http_503);
  CHECK(stale_condition(504) == StaleIf::http_504);
  CHECK_FALSE(stale_condition(501).has_value());  // not an error RFC 5861 names
  CHECK_FALSE(stale_condition(200).has_value());
  CHECK_FALSE(stale_condition(404).has_value());
}

TEST_CASE("failure_condition: a fetch without a response is use_stale's timeout after a 504, its error otherwise") {
  CHECK(failure_condition(504) == StaleIf::timeout);
  CHECK(failure_condition(502) == StaleIf::error);
  CHECK(failure_condition(503) == StaleIf::error);
}

// --- Vary ------------------------------------------------------------------------------------

TEST_CASE("parse_vary: lowercased, deduplicated, sorted, star") {
  struct Case {
    Fields headers;
    const char* fields;
    bool star;
  };
  const std::vector<Case> cases = {
      {{}, "", false},
      {{{"Vary", "Accept-Encoding"}}, "accept-encoding", false},
      {{{"Vary", "User-Agent, Accept-Encoding"}}, "accept-encoding,user-agent", false},
      {{{"Vary", "accept-encoding, ACCEPT-ENCODING,Accept-Encoding"}}, "accept-encoding", false},
      {{{"Vary", "Accept"}, {"Vary", "Accept-Language"}}, "accept,accept-language", false},
      {{{"Vary", "*"}}, "", true},
      {{{"Vary", "Accept, *"}}, "accept", true},
      {{{"Vary", " , ,"}}, "", false},
  };
  for (const auto& c : cases) {
    CAPTURE(dump(header_map(c.headers)));
    const auto v = parse_vary(header_map(c.headers));
    CHECK(join(v.fields) == c.fields);
    CHECK(v.star == c.star);
  }
}

TEST_CASE("vary_key: normalised values, absent differs from empty, no collisions") {
  const auto vary = [](std::vector<std::string> fields) {
    VarySpec v;
    v.fields = std::move(fields);
    return v;
  };
  struct Case {
    const char* name;
    VarySpec spec;
    Fields headers;
    std::string expected;
  };
  const std::string s(1, kKeySeparator);
  const std::vector<Case> cases = {
      {"no fields", vary({}), {{"Accept", "x"}}, ""},
      {"present", vary({"accept-encoding"}), {{"Accept-Encoding", "gzip"}}, "accept-encoding=gzip"},
      {"absent: bare name", vary({"accept-encoding"}), {}, "accept-encoding"},
      {"empty", vary({"accept-encoding"}), {{"Accept-Encoding", ""}}, "accept-encoding="},
      {"spaces around commas", vary({"accept-encoding"}), {{"Accept-Encoding", "gzip,   br"}}, "accept-encoding=gzip,br"},
      {"no spaces", vary({"accept-encoding"}), {{"Accept-Encoding", "gzip,br"}}, "accept-encoding=gzip,br"},
      {"lines combined", vary({"accept-encoding"}), {{"Accept-Encoding", "gzip"}, {"accept-encoding", "br"}},
       "accept-encoding=gzip,br"},
      {"inner spaces kept", vary({"user-agent"}), {{"User-Agent", "Mozilla/5.0 (X11; Linux)"}}, "user-agent=Mozilla/5.0 (X11; Linux)"},
      {"two fields", vary({"accept", "accept-encoding"}), {{"Accept-Encoding", "gzip"}, {"Accept", "text/html"}},
       "accept=text/html|accept-encoding=gzip"},
      {"one of two absent", vary({"accept", "accept-encoding"}), {{"Accept-Encoding", "gzip"}}, "accept|accept-encoding=gzip"},
      {"escaped value", vary({"x-a"}), {{"X-A", "1%" + s + "b"}}, "x-a=1%25%1Fb"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(vary_key(c.spec, get("/a", c.headers)) == sep(c.expected));
  }
  // Distinct value lists never collide.
  const auto two = vary({"a", "b"});
  const std::vector<Fields> distinct = {
      {}, {{"A", ""}}, {{"A", "1"}, {"B", "2"}}, {{"A", "1" + s + "b=2"}}, {{"A", "1%1Fb=2"}},
      {{"B", "1"}}, {{"A", "1"}}, {{"A", "1,2"}}, {{"A", "2,1"}}, {{"A", "1"}, {"B", ""}},
  };
  std::vector<std::string> keys;
  for (const auto& f : distinct) keys.push_back(vary_key(two, get("/a", f)));
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = i + 1; j < keys.size(); ++j) {
      CAPTURE(i);
      CAPTURE(j);
      CHECK(keys[i] != keys[j]);
    }
}

// --- Validation ------------------------------------------------------------------------------

TEST_CASE("validators_of") {
  const auto both = validators_of(header_map({{"ETag", " \"abc\" "}, {"Last-Modified", date(kNow - 100)}}));
  CHECK(both.etag == std::optional<std::string>("\"abc\""));
  CHECK(both.last_modified == std::optional<Seconds>(kNow - 100));
  const auto weak = validators_of(header_map({{"ETag", "W/\"x\""}}));
  CHECK(weak.etag == std::optional<std::string>("W/\"x\""));
  CHECK_FALSE(weak.last_modified);
  const auto bad = validators_of(header_map({{"ETag", ""}, {"Last-Modified", "yesterday"}}));
  CHECK_FALSE(bad.etag);
  CHECK_FALSE(bad.last_modified);
  const auto none = validators_of(header_map({}));
  CHECK_FALSE(none.etag);
  CHECK_FALSE(none.last_modified);
}

TEST_CASE("add_conditional_headers: the stored validators replace the client's") {
  Validators stored;
  stored.etag = "\"v1\"";
  stored.last_modified = kNow - 100;
  auto h = header_map({{"Accept", "*/*"}, {"If-None-Match", "\"client\""}, {"If-Modified-Since", date(kNow)}});
  add_conditional_headers(h, stored);
  CHECK(dump(h) == "Accept: */*\nIf-None-Match: \"v1\"\nIf-Modified-Since: " + date(kNow - 100) + "\n");

  Validators lm_only;
  lm_only.last_modified = kNow - 100;
  h = header_map({{"If-None-Match", "\"client\""}});
  add_conditional_headers(h, lm_only);
  CHECK(dump(h) == "If-Modified-Since: " + date(kNow - 100) + "\n");

  h = header_map({{"If-None-Match", "\"client\""}, {"If-Modified-Since", date(kNow)}});
  add_conditional_headers(h, Validators{});
  CHECK(h.empty());
}

TEST_CASE("client_not_modified: If-None-Match (weak, lists, *) over If-Modified-Since, GET/HEAD only") {
  const Seconds lm = kNow - 100;
  auto stored = [](std::optional<std::string> etag, std::optional<Seconds> last_modified) {
    Validators v;
    v.etag = std::move(etag);
    v.last_modified = last_modified;
    return v;
  };
  const auto v1 = stored("\"v1\"", lm);
  struct Case {
    const char* name;
    const char* method;
    Fields req;
    Validators stored;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"no conditionals", "GET", {}, v1, false},
      {"INM match", "GET", {{"If-None-Match", "\"v1\""}}, v1, true},
      {"INM mismatch", "GET", {{"If-None-Match", "\"v2\""}}, v1, false},
      {"INM list", "GET", {{"If-None-Match", "\"v2\", \"v1\""}}, v1, true},
      {"INM lines", "GET", {{"If-None-Match", "\"v2\""}, {"If-None-Match", "\"v1\""}}, v1, true},
      {"INM weak vs strong stored", "GET", {{"If-None-Match", "W/\"v1\""}}, v1, true},
      {"INM strong vs weak stored", "GET", {{"If-None-Match", "\"v1\""}}, stored("W/\"v1\"", std::nullopt), true},
      {"INM case-sensitive", "GET", {{"If-None-Match", "\"V1\""}}, v1, false},
      {"INM *", "GET", {{"If-None-Match", "*"}}, v1, true},
      {"INM * without a stored ETag", "GET", {{"If-None-Match", "*"}}, stored(std::nullopt, lm), true},
      {"INM without a stored ETag", "GET", {{"If-None-Match", "\"v1\""}}, stored(std::nullopt, lm), false},
      {"INM tag holding a comma", "GET", {{"If-None-Match", "\"a,b\""}}, stored("\"a,b\"", std::nullopt), true},
      {"INM comma tag is one tag", "GET", {{"If-None-Match", "\"a,b\""}}, stored("\"b\"", std::nullopt), false},
      {"INM empty", "GET", {{"If-None-Match", ""}}, v1, false},
      {"INM mismatch: IMS ignored", "GET", {{"If-None-Match", "\"v2\""}, {"If-Modified-Since", date(kNow)}}, v1, false},
      {"IMS == Last-Modified", "GET", {{"If-Modified-Since", date(lm)}}, v1, true},
      {"IMS after Last-Modified", "GET", {{"If-Modified-Since", date(lm + 1)}}, v1, true},
      {"IMS before Last-Modified", "GET", {{"If-Modified-Since", date(lm - 1)}}, v1, false},
      {"IMS invalid", "GET", {{"If-Modified-Since", "yesterday"}}, v1, false},
      {"IMS twice", "GET", {{"If-Modified-Since", date(kNow)}, {"If-Modified-Since", date(kNow)}}, v1, false},
      {"IMS without a stored Last-Modified", "GET", {{"If-Modified-Since", date(kNow)}}, stored("\"v1\"", std::nullopt), false},
      {"HEAD", "HEAD", {{"If-None-Match", "\"v1\""}}, v1, true},
      {"POST INM: 412 territory, not 304", "POST", {{"If-None-Match", "\"v1\""}}, v1, false},
      {"PUT IMS", "PUT", {{"If-Modified-Since", date(kNow)}}, v1, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    CHECK(client_not_modified(request(c.method, "/a", c.req), c.stored) == c.expected);
  }
}

TEST_CASE("merge_not_modified: 304 fields replace stored ones, except framing and hop-by-hop") {
  auto stored = header_map({
      {"Content-Type", "text/html"},
      {"Content-Length", "100"},
      {"ETag", "\"v1\""},
      {"Cache-Control", "max-age=60"},
      {"Date", date(kNow - 3600)},
      {"Age", "30"},
      {"X-Old", "1"},
      {"X-Multi", "a"},
      {"X-Multi", "b"},
  });
  const auto not_modified = header_map({
      {"Date", date(kNow)},
      {"Cache-Control", "max-age=120"},
      {"ETag", "\"v1\""},
      {"X-Multi", "c"},
      {"Content-Length", "0"},
      {"Transfer-Encoding", "chunked"},
      {"Connection", "close, X-Hop"},
      {"X-Hop", "1"},
      {"Set-Cookie", "s=1"},
  });
  merge_not_modified(stored, not_modified);
  CHECK(dump(stored) ==
        "Content-Type: text/html\n"
        "Content-Length: 100\n"
        "X-Old: 1\n"
        "Date: " + date(kNow) + "\n"
        "Cache-Control: max-age=120\n"
        "ETag: \"v1\"\n"
        "X-Multi: c\n");
}

TEST_CASE("merge_not_modified: Age and Date describe the new validation") {
  auto stored = header_map({{"Date", date(kNow - 3600)}, {"Age", "30"}, {"Cache-Control", "max-age=60"}});
  merge_not_modified(stored, header_map({{"ETag", "\"v2\""}}));
  CHECK(dump(stored) == "Cache-Control: max-age=60\nETag: \"v2\"\n");
  // So the refreshed response is fresh again, not stale from the old Date.
  CHECK(corrected_initial_age(stored, kNow - 1, kNow) == 1);

  stored = header_map({{"Age", "30"}, {"X-User", "bob"}});
  merge_not_modified(stored, header_map({{"Age", "5"}, {"Cache-Control", "private=\"X-User\""}}));
  CHECK(dump(stored) == "Age: 5\nCache-Control: private=\"X-User\"\n");
}

TEST_CASE("remove_unstorable_fields: RFC 9111 3.1 and Set-Cookie") {
  auto h = header_map({
      {"Connection", "X-Hop"},
      {"X-Hop", "1"},
      {"Keep-Alive", "timeout=5"},
      {"Transfer-Encoding", "chunked"},
      {"Proxy-Authenticate", "Basic"},
      {"Proxy-Authentication-Info", "x"},
      {"Set-Cookie", "a=1"},
      {"Set-Cookie", "b=2"},
      {"Cache-Control", "no-cache=\"X-Secret\", private=\"X-User\", max-age=60"},
      {"X-Secret", "s"},
      {"X-User", "u"},
      {"Content-Type", "text/plain"},
      {"Content-Length", "5"},
  });
  remove_unstorable_fields(h);
  CHECK(dump(h) ==
        "Cache-Control: no-cache=\"X-Secret\", private=\"X-User\", max-age=60\n"
        "Content-Type: text/plain\n"
        "Content-Length: 5\n");
}

// --- Invalidation ----------------------------------------------------------------------------

TEST_CASE("invalidates: unsafe methods with a non-error status") {
  struct Case {
    const char* method;
    int status;
    bool expected;
  };
  const std::vector<Case> cases = {
      {"POST", 200, true},  {"POST", 201, true},   {"POST", 204, true},   {"POST", 301, true},
      {"POST", 303, true},  {"POST", 399, true},   {"PUT", 200, true},    {"DELETE", 204, true},
      {"PATCH", 200, true}, {"PURGE", 200, true},  // unknown methods are unsafe
      {"POST", 199, false}, {"POST", 400, false},  {"POST", 404, false},  {"POST", 500, false},
      {"GET", 200, false},  {"HEAD", 200, false},  {"OPTIONS", 200, false}, {"TRACE", 200, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.status);
    CHECK(invalidates(c.method, c.status) == c.expected);
  }
}

TEST_CASE("invalidated_targets: the target, same-host Location and Content-Location") {
  struct Case {
    const char* name;
    const char* host;
    Fields resp;
    std::vector<std::string> expected;
  };
  const std::string t = "/a/b?x=1";
  const std::vector<Case> cases = {
      {"no Location", "example.com", {}, {t}},
      {"absolute path", "example.com", {{"Location", "/c"}}, {t, "/c"}},
      {"absolute URL, same host", "example.com", {{"Location", "http://example.com/c?d=1"}}, {t, "/c?d=1"}},
      {"host case and :80", "example.com", {{"Location", "HTTP://EXAMPLE.com:80/c"}}, {t, "/c"}},
      {"request Host with :80", "Example.com:80", {{"Location", "http://example.com/c"}}, {t, "/c"}},
      {"https, same host", "example.com", {{"Location", "https://example.com/c"}}, {t, "/c"}},
      {"https :443", "example.com", {{"Location", "https://example.com:443/c"}}, {t, "/c"}},
      {"other port ignored", "example.com", {{"Location", "http://example.com:8080/c"}}, {t}},
      {"other host ignored", "example.com", {{"Location", "http://other.com/c"}}, {t}},
      {"subdomain ignored", "example.com", {{"Location", "http://www.example.com/c"}}, {t}},
      {"network-path, same host", "example.com", {{"Location", "//example.com/c"}}, {t, "/c"}},
      {"network-path, other host", "example.com", {{"Location", "//other.com/c"}}, {t}},
      {"userinfo dropped", "example.com", {{"Location", "http://user:pw@example.com/c"}}, {t, "/c"}},
      {"empty path is /", "example.com", {{"Location", "http://example.com"}}, {t, "/"}},
      {"empty path with query", "example.com", {{"Location", "http://example.com?q=1"}}, {t, "/?q=1"}},
      {"relative", "example.com", {{"Location", "c"}}, {t, "/a/c"}},
      {"relative ..", "example.com", {{"Location", "../c"}}, {t, "/c"}},
      {"relative . and ..", "example.com", {{"Location", "./c/../d"}}, {t, "/a/d"}},
      {"too many ..", "example.com", {{"Location", "../../../c"}}, {t, "/c"}},
      {"query only", "example.com", {{"Location", "?y=2"}}, {t, "/a/b?y=2"}},
      {"dot segments in an absolute path", "example.com", {{"Location", "/a/./b/../../c"}}, {t, "/c"}},
      {"fragment dropped", "example.com", {{"Location", "/c#top"}}, {t, "/c"}},
      {"other scheme ignored", "example.com", {{"Location", "mailto:a@example.com"}}, {t}},
      {"same as the target", "example.com", {{"Location", "/a/b?x=1"}}, {t}},
      {"empty reference: the target", "example.com", {{"Location", ""}}, {t}},
      {"both fields", "example.com", {{"Location", "/c"}, {"Content-Location", "/d"}}, {t, "/c", "/d"}},
      {"both fields, same URL", "example.com", {{"Location", "/c"}, {"Content-Location", "http://example.com/c"}}, {t, "/c"}},
      {"Content-Location only", "example.com", {{"Content-Location", "/d"}}, {t, "/d"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const auto req = request("POST", t, {{"Host", c.host}});
    CHECK(join(invalidated_targets(req, response(201, c.resp)), " ") == join(c.expected, " "));
  }
}

// --- Tags ----------------------------------------------------------------------------------------

TEST_CASE("parse_tags: spaces, tabs and commas, empties and duplicates dropped") {
  struct Case {
    const char* value;
    const char* expected;
  };
  const std::vector<Case> cases = {
      {"", ""},
      {"a", "a"},
      {"a b", "a|b"},
      {"a,b", "a|b"},
      {" a , b ,,c ", "a|b|c"},
      {"a\tb", "a|b"},
      {"b a b a", "b|a"},
      {"product-1 category:shoes", "product-1|category:shoes"},
      {" , \t", ""},
  };
  for (const auto& c : cases) {
    CAPTURE(c.value);
    CHECK(join(parse_tags(c.value), "|") == c.expected);
  }
}

// --- A stored response over time -------------------------------------------------------------------

TEST_CASE("scenario: store, age, serve fresh, serve stale while revalidating, revalidate, refresh") {
  const Seconds request_time = kNow - 1, response_time = kNow;
  const auto resp = response(200, {{"Date", date(kNow - 5)},
                                   {"Age", "10"},
                                   {"Cache-Control", "max-age=60, stale-while-revalidate=30"},
                                   {"ETag", "\"v1\""}});
  const auto r = rule();
  REQUIRE(can_store(get("/a"), resp, r).store);
  const Freshness f = freshness(resp, r, response_time);
  const Seconds initial = corrected_initial_age(resp.headers, request_time, response_time);
  CHECK(initial == 11);  // Age 10 + 1 s of response delay beats the apparent age of 5
  const RequestDirectives none;
  CHECK(usability(f, current_age(initial, response_time, kNow + 48), none, false) == Usability::fresh);
  CHECK(usability(f, current_age(initial, response_time, kNow + 49), none, false) == Usability::stale_while_revalidate);
  CHECK(usability(f, current_age(initial, response_time, kNow + 78), none, false) == Usability::stale_while_revalidate);
  CHECK(usability(f, current_age(initial, response_time, kNow + 79), none, false) == Usability::stale_revalidate);

  // Revalidation at kNow + 100: conditional request, 304, refreshed headers.
  http::HeaderMap upstream;
  add_conditional_headers(upstream, validators_of(resp.headers));
  CHECK(upstream.get("If-None-Match") == std::optional<std::string_view>("\"v1\""));
  auto stored = resp.headers;
  merge_not_modified(stored, header_map({{"Date", date(kNow + 100)}, {"ETag", "\"v1\""}}));
  const auto refreshed = response(200, {});
  http::Response updated = refreshed;
  updated.headers = stored;
  const Freshness f2 = freshness(updated, r, kNow + 100);
  const Seconds initial2 = corrected_initial_age(stored, kNow + 100, kNow + 100);
  CHECK(initial2 == 0);  // the old Age is gone
  CHECK(usability(f2, current_age(initial2, kNow + 100, kNow + 159), none, false) == Usability::fresh);
  // And a client holding v1 gets a 304 from the cache.
  CHECK(client_not_modified(get("/a", {{"If-None-Match", "\"v1\""}}), validators_of(stored)));
}

}  // TEST_SUITE
