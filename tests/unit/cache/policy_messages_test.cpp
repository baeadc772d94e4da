// Tests for cache/policy's messages (policy_messages.cpp): reuse with
// credentials, the requests a fill or a revalidation sends, the head stored
// for a response, the 304 the cache answers itself, and the X-Cache and
// Cache-Status fields; with the request-level usability, the fast hit path
// and Vary matching. Tables with exact expected values; times are injected.
#include <doctest/doctest.h>

// The Cache-Status table names only the facts each row sets; g++ 12 warns
// about designated initializers that leave defaulted members out.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/http/serializer.hpp"
#include "cache/policy.hpp"

namespace http = gateway::http;
using namespace gateway::cache;

namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr Seconds kNow = 1'700'000'000;  // 2023-11-14T22:13:20Z

http::Request request(std::string method, const Fields& fields, std::string target = "/a?b=1") {
  http::Request r;
  r.method = std::move(method);
  r.target = std::move(target);
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

http::Response response(int status, const Fields& fields) {
  http::Response r;
  r.status = status;
  r.reason = std::string(http::reason_phrase(status));
  for (const auto& [name, value] : fields) r.headers.add(name, value);
  return r;
}

// A stored head as EntryMeta keeps it: status line and fields, no blank line.
std::string head(int status, const Fields& fields) {
  std::string out;
  http::serialize_response_head(response(status, fields), out);
  out.resize(out.size() - 2);
  return out;
}

std::string dump(const http::HeaderMap& h) {
  std::string out;
  h.for_each([&](const http::HeaderMap::Field& f) { out.append(f.name).append(": ").append(f.value).append("\n"); });
  return out;
}

std::string crlf_to_lf(std::string s) {
  std::string out;
  for (char c : s)
    if (c != '\r') out += c;
  return out;
}

}  // namespace

// ---------------------------------------------------------------- reuse with credentials

TEST_CASE("reusable_with_authorization: credentials get only what the stored response lets a shared cache reuse (RFC 9111 3.5)") {
  struct Row {
    const char* name;
    bool authorization;
    std::string stored;
    bool reusable;
  };
  const Row rows[] = {
      {"no Authorization: any stored response", false, head(200, {{"Cache-Control", "max-age=60"}}), true},
      {"no Authorization: even an unreadable head", false, "garbage", true},
      {"Authorization, max-age only", true, head(200, {{"Cache-Control", "max-age=60"}}), false},
      {"Authorization, no Cache-Control", true, head(200, {{"ETag", "\"x\""}}), false},
      {"Authorization, public", true, head(200, {{"Cache-Control", "public, max-age=60"}}), true},
      {"Authorization, s-maxage", true, head(200, {{"Cache-Control", "s-maxage=60"}}), true},
      {"Authorization, must-revalidate", true, head(200, {{"Cache-Control", "max-age=60, must-revalidate"}}), true},
      {"Authorization, proxy-revalidate is not enough", true,
       head(200, {{"Cache-Control", "max-age=60, proxy-revalidate"}}), false},
      {"Authorization, directives over two lines", true,
       head(200, {{"Cache-Control", "max-age=60"}, {"Cache-Control", "PUBLIC"}}), true},
      {"Authorization, unreadable head", true, "not a head", false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto req = request("GET", r.authorization ? Fields{{"Authorization", "Basic eDp5"}} : Fields{});
    CHECK(reusable_with_authorization(req, r.stored) == r.reusable);
  }
}

TEST_CASE("shared_with_credentials: public, s-maxage and must-revalidate, as can_store applies it") {
  struct Row {
    const char* cache_control;
    bool shared;
  };
  const Row rows[] = {
      {"max-age=60", false},       {"public", true},          {"s-maxage=0", true}, {"must-revalidate", true},
      {"proxy-revalidate", false}, {"private, public", true}, {"", false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.cache_control);
    http::HeaderMap h;
    h.add("Cache-Control", r.cache_control);
    const bool shared = shared_with_credentials(parse_response_directives(h));
    CHECK(shared == r.shared);
    // can_store refuses the same responses for a request with credentials.
    RuleConfig rule;
    rule.ttl = gateway::Duration(60'000);
    auto decision = can_store(request("GET", {{"Authorization", "Bearer t"}}), response(200, {{"Cache-Control", r.cache_control}}), rule);
    CHECK((decision.reason != "authorization") == shared);
  }
}

// ---------------------------------------------------------------- the requests a cache sends

TEST_CASE("fill_request: a GET for the target with the client's fields, without its conditionals and range") {
  struct Row {
    const char* name;
    std::string method;
    Fields fields;
    bool is_fill;         // the client's request can go as it is
    std::string expected;  // the fill request's fields
  };
  const Row rows[] = {
      {"plain GET", "GET", {{"Host", "h"}, {"Accept", "*/*"}}, true, "Host: h\nAccept: */*\n"},
      {"HEAD fills the GET entry", "HEAD", {{"Host", "h"}}, false, "Host: h\n"},
      {"If-None-Match", "GET", {{"Host", "h"}, {"If-None-Match", "\"a\""}, {"Accept", "x"}}, false,
       "Host: h\nAccept: x\n"},
      {"If-Modified-Since", "GET", {{"If-Modified-Since", http::format_http_date(kNow)}, {"Host", "h"}}, false,
       "Host: h\n"},
      {"If-Match and If-Unmodified-Since", "GET",
       {{"If-Match", "\"a\""}, {"If-Unmodified-Since", http::format_http_date(kNow)}, {"Host", "h"}}, false,
       "Host: h\n"},
      {"Range and If-Range", "GET", {{"Range", "bytes=0-9"}, {"If-Range", "\"a\""}, {"Host", "h"}}, false, "Host: h\n"},
      {"names in any case", "GET", {{"range", "bytes=0-9"}, {"IF-NONE-MATCH", "*"}, {"Host", "h"}}, false, "Host: h\n"},
      {"HEAD with a conditional", "HEAD", {{"Host", "h"}, {"If-None-Match", "\"a\""}, {"Cookie", "c=1"}}, false,
       "Host: h\nCookie: c=1\n"},
      {"repeated fields keep their order", "GET", {{"Accept", "a"}, {"Range", "bytes=1-"}, {"Accept", "b"}}, false,
       "Accept: a\nAccept: b\n"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto client = request(r.method, r.fields);
    client.version_minor = 0;
    client.content_length = 0;
    CHECK(is_fill_request(client) == r.is_fill);
    auto fill = fill_request(client);
    CHECK(fill.method == "GET");
    CHECK(fill.target == client.target);
    CHECK(fill.version_minor == 0);
    CHECK(!fill.content_length);  // a new request, without a body
    CHECK(!fill.chunked);
    CHECK(dump(fill.headers) == r.expected);
  }
}

TEST_CASE("revalidation_request: the fill request with the stored validators as conditionals (RFC 9111 4.3.1)") {
  const std::string lm = http::format_http_date(kNow - 3600);
  struct Row {
    const char* name;
    std::string method;
    Fields fields;
    const char* etag;    // stored validators: null for none ...
    Seconds last_modified;  // ... 0 for none
    std::string expected;
  };
  const Row rows[] = {
      {"both validators", "GET", {{"Host", "h"}}, "\"v1\"", kNow - 3600,
       "Host: h\nIf-None-Match: \"v1\"\nIf-Modified-Since: " + lm + "\n"},
      {"ETag only", "GET", {{"Host", "h"}}, "W/\"v1\"", 0, "Host: h\nIf-None-Match: W/\"v1\"\n"},
      {"Last-Modified only", "GET", {{"Host", "h"}}, nullptr, kNow - 3600, "Host: h\nIf-Modified-Since: " + lm + "\n"},
      {"the client's conditionals give way to the stored validators", "GET",
       {{"If-None-Match", "\"mine\""}, {"Host", "h"}, {"If-Modified-Since", http::format_http_date(kNow)}}, "\"v1\"", 0,
       "Host: h\nIf-None-Match: \"v1\"\n"},
      {"a HEAD revalidates with a GET, its range dropped", "HEAD", {{"Host", "h"}, {"Range", "bytes=0-1"}}, "\"v1\"", 0,
       "Host: h\nIf-None-Match: \"v1\"\n"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    Validators stored;
    if (r.etag) stored.etag = r.etag;
    if (r.last_modified) stored.last_modified = r.last_modified;
    auto req = revalidation_request(request(r.method, r.fields), stored);
    CHECK(req.method == "GET");
    CHECK(req.target == "/a?b=1");
    CHECK(dump(req.headers) == r.expected);
  }
  SUBCASE("a client's request that is its own fill request is copied whole") {
    auto client = request("GET", {{"Host", "h"}});
    client.content_length = 0;
    Validators stored;
    stored.etag = "\"v\"";
    auto req = revalidation_request(client, stored);
    CHECK(req.content_length == std::optional<std::uint64_t>(0));
  }
}

// ---------------------------------------------------------------- the responses a cache builds

TEST_CASE("stored_head: the status line and end-to-end fields, without what is per response or must not be stored") {
  const std::string date = http::format_http_date(kNow - 10);
  struct Row {
    const char* name;
    http::Response resp;
    std::string expected;
  };
  const Row rows[] = {
      {"kept as received, Date added from now", response(200, {{"Content-Type", "text/plain"}, {"ETag", "\"e\""}}),
       "HTTP/1.1 200 OK\nContent-Type: text/plain\nETag: \"e\"\nDate: " + http::format_http_date(kNow) + "\n"},
      {"a Date of its own is kept", response(404, {{"Date", date}, {"Cache-Control", "max-age=5"}}),
       "HTTP/1.1 404 Not Found\nDate: " + date + "\nCache-Control: max-age=5\n"},
      {"framing and per-response fields go",
       response(200, {{"Date", date},
                      {"Content-Length", "5"},
                      {"Transfer-Encoding", "chunked"},
                      {"Age", "3"},
                      {"X-Cache", "MISS"},
                      {"Cache-Status", "other; hit"},
                      {"Vary", "Accept"}}),
       "HTTP/1.1 200 OK\nDate: " + date + "\nVary: Accept\n"},
      {"unstorable fields go (RFC 9111 3.1)",
       response(200, {{"Date", date},
                      {"Set-Cookie", "s=1"},
                      {"Connection", "close, X-Hop"},
                      {"X-Hop", "1"},
                      {"Keep-Alive", "timeout=5"},
                      {"Proxy-Authenticate", "Basic"},
                      {"Cache-Control", "no-cache=\"X-User\""},
                      {"X-User", "u"},
                      {"X-Kept", "k"}}),
       "HTTP/1.1 200 OK\nDate: " + date + "\nCache-Control: no-cache=\"X-User\"\nX-Kept: k\n"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto stored = stored_head(r.resp, kNow);
    CHECK(stored.substr(stored.size() - 2) == "\r\n");
    CHECK(stored.find("\r\n\r\n") == std::string::npos);  // no blank line
    CHECK(crlf_to_lf(stored) == r.expected);
  }
}

TEST_CASE("answers_not_modified: a 304 of the cache's own only for a 2xx whose validators the client holds") {
  Validators stored;
  stored.etag = "\"v1\"";
  stored.last_modified = kNow - 3600;
  struct Row {
    const char* name;
    int stored_status;
    Fields fields;
    bool answers;
  };
  const Row rows[] = {
      {"matching If-None-Match on a 200", 200, {{"If-None-Match", "\"v1\""}}, true},
      {"matching If-None-Match on a 203", 203, {{"If-None-Match", "W/\"v1\""}}, true},
      {"matching, but the stored response is a 404", 404, {{"If-None-Match", "\"v1\""}}, false},
      {"matching, but the stored response is a 301", 301, {{"If-None-Match", "\"v1\""}}, false},
      {"another tag", 200, {{"If-None-Match", "\"v2\""}}, false},
      {"If-Modified-Since at Last-Modified", 200, {{"If-Modified-Since", http::format_http_date(kNow - 3600)}}, true},
      {"no conditional", 200, {}, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    CHECK(answers_not_modified(request("GET", r.fields), r.stored_status, stored) == r.answers);
  }
}

TEST_CASE("not_modified_head: the 304 carries the stored caching and validator fields, in a fixed order (RFC 9110 15.4.5)") {
  const std::string date = http::format_http_date(kNow - 10);
  const std::string lm = http::format_http_date(kNow - 3600);
  struct Row {
    const char* name;
    std::string stored;
    std::optional<std::string> expected;
  };
  const Row rows[] = {
      {"every field it carries, in its order, whatever the stored order",
       head(200, {{"Vary", "Accept"},
                  {"Last-Modified", lm},
                  {"Expires", date},
                  {"ETag", "\"v1\""},
                  {"Date", date},
                  {"Content-Location", "/a"},
                  {"Cache-Control", "max-age=60"},
                  {"Content-Type", "text/html"},
                  {"X-Other", "o"}}),
       "HTTP/1.1 304 Not Modified\nCache-Control: max-age=60\nContent-Location: /a\nDate: " + date +
           "\nETag: \"v1\"\nExpires: " + date + "\nLast-Modified: " + lm + "\nVary: Accept\n"},
      {"only those present", head(200, {{"ETag", "\"v1\""}, {"Content-Type", "text/html"}}),
       std::string("HTTP/1.1 304 Not Modified\nETag: \"v1\"\n")},
      {"the first value of a repeated field", head(200, {{"Cache-Control", "max-age=60"}, {"Cache-Control", "public"}}),
       std::string("HTTP/1.1 304 Not Modified\nCache-Control: max-age=60\n")},
      {"an unreadable stored head", "HTTP/1.1 2xx nonsense", std::nullopt},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto got = not_modified_head(r.stored);
    REQUIRE(got.has_value() == r.expected.has_value());
    if (got) CHECK(crlf_to_lf(*got) == *r.expected);
  }
}

// ---------------------------------------------------------------- X-Cache and Cache-Status

TEST_CASE("cache_fields: Age, X-Cache and Cache-Status for every way a response comes about") {
  struct Row {
    const char* name;
    CacheStatus status;
    CacheStatusFacts facts;
    std::string expected;
  };
  const Row rows[] = {
      {"fresh hit", CacheStatus::hit, {.age = 5, .ttl = 55},
       "Age: 5\nX-Cache: HIT\nCache-Status: gateway; hit; ttl=55\n"},
      {"hit from the shared tier", CacheStatus::hit, {.age = 0, .ttl = 60, .shared_tier = true},
       "Age: 0\nX-Cache: HIT\nCache-Status: gateway; hit; ttl=60; detail=shared-tier\n"},
      {"stale: ttl goes negative", CacheStatus::stale, {.age = 70, .ttl = -10},
       "Age: 70\nX-Cache: STALE\nCache-Status: gateway; hit; ttl=-10; detail=stale\n"},
      {"updating", CacheStatus::updating, {.age = 61, .ttl = -1},
       "Age: 61\nX-Cache: UPDATING\nCache-Status: gateway; hit; ttl=-1; detail=updating\n"},
      {"stale wins over shared tier", CacheStatus::stale, {.age = 70, .ttl = -10, .shared_tier = true},
       "Age: 70\nX-Cache: STALE\nCache-Status: gateway; hit; ttl=-10; detail=stale\n"},
      {"revalidated: no ttl", CacheStatus::revalidated, {.age = 0, .ttl = 60},
       "Age: 0\nX-Cache: REVALIDATED\nCache-Status: gateway; fwd=stale; fwd-status=304\n"},
      {"miss, stored", CacheStatus::miss, {}, "X-Cache: MISS\nCache-Status: gateway; fwd=uri-miss; stored\n"},
      {"miss, not storable", CacheStatus::miss, {.not_stored = "no-store"},
       "X-Cache: MISS\nCache-Status: gateway; fwd=uri-miss; detail=no-store\n"},
      {"miss, write failed", CacheStatus::miss, {.not_stored = "write-failed"},
       "X-Cache: MISS\nCache-Status: gateway; fwd=uri-miss; detail=write-failed\n"},
      {"miss, collapsed into another request's fill", CacheStatus::miss, {.collapsed = true},
       "X-Cache: MISS\nCache-Status: gateway; fwd=uri-miss; collapsed\n"},
      {"expired, replaced", CacheStatus::expired, {.upstream_status = 200},
       "X-Cache: EXPIRED\nCache-Status: gateway; fwd=stale; fwd-status=200; stored\n"},
      {"expired, the new response not storable", CacheStatus::expired, {.upstream_status = 500, .not_stored = "status"},
       "X-Cache: EXPIRED\nCache-Status: gateway; fwd=stale; fwd-status=500; detail=status\n"},
      {"bypass by method", CacheStatus::bypass, {.method = true}, "X-Cache: BYPASS\nCache-Status: gateway; fwd=method\n"},
      {"bypass by the rule", CacheStatus::bypass, {}, "X-Cache: BYPASS\nCache-Status: gateway; fwd=bypass\n"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    auto fields = cache_fields(r.status, r.facts);
    CHECK(fields.substr(fields.size() - 2) == "\r\n");
    CHECK(crlf_to_lf(fields) == r.expected);
  }
  CHECK(kCacheStatusNames.size() == kCacheStatuses);
}

// ---------------------------------------------------------------- usability, fast path, Vary

TEST_CASE("usability for a request: the client's directives count only when the rule honours them") {
  Freshness f;
  f.lifetime = 60;
  auto no_cache = request("GET", {{"Cache-Control", "no-cache"}});
  auto max_stale = request("GET", {{"Cache-Control", "max-stale=30"}});
  RuleConfig ignore, honor;
  honor.honor_client_no_cache = true;
  CHECK(usability(f, 10, no_cache, ignore) == Usability::fresh);
  CHECK(usability(f, 10, no_cache, honor) == Usability::stale_revalidate);
  CHECK(usability(f, 70, max_stale, ignore) == Usability::stale_revalidate);
  CHECK(usability(f, 70, max_stale, honor) == Usability::fresh);
  CHECK(usability(f, 10, request("GET", {}), honor) == Usability::fresh);
}

TEST_CASE("fast_hit_request: only a plain GET, not bypassed, without credentials") {
  RuleConfig rule;
  rule.bypass_headers = {"X-Nocache"};
  struct Row {
    const char* name;
    std::string method;
    Fields fields;
    bool fast;
  };
  const Row rows[] = {
      {"plain GET", "GET", {{"Host", "h"}}, true},
      {"HEAD", "HEAD", {{"Host", "h"}}, false},
      {"POST", "POST", {{"Host", "h"}}, false},
      {"bypassed", "GET", {{"Host", "h"}, {"X-Nocache", "1"}}, false},
      {"bypass header off", "GET", {{"Host", "h"}, {"X-Nocache", "0"}}, true},
      {"Authorization", "GET", {{"Host", "h"}, {"Authorization", "Basic eDp5"}}, false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.name);
    CHECK(fast_hit_request(request(r.method, r.fields), rule) == r.fast);
  }
}

TEST_CASE("vary_matches: the request's varied fields must give the stored secondary key (RFC 9111 4.1)") {
  const VarySpec none;
  const VarySpec lang{{"accept-language"}, false};
  auto en = request("GET", {{"Accept-Language", "en"}});
  auto fr = request("GET", {{"Accept-Language", "fr"}});
  auto absent = request("GET", {});
  const auto en_key = vary_key(lang, en);
  CHECK(vary_matches(none, "", en));
  CHECK(vary_matches(none, "", absent));
  CHECK(!vary_matches(none, "stale key", en));  // inconsistent metadata never matches
  CHECK(vary_matches(lang, en_key, en));
  CHECK(!vary_matches(lang, en_key, fr));
  CHECK(!vary_matches(lang, en_key, absent));
  CHECK(vary_matches(lang, vary_key(lang, absent), absent));
}
