// The client's fast hit path (cache_proxy::queue_memory_hit, taken from
// serve_route for a plain GET whose fresh entry is in the RAM tier) against
// the full path (CachedExchange::serve_entry, taken by a request with a
// Cache-Control of its own that the route ignores): the same response, head
// byte for byte but for the clock (Date, Age, the ttl of Cache-Status), and
// the route's header rules applied to both.
#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "cache_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::cache_test;

namespace {

// `s` with the value after each `marker` replaced by "-"; the value ends at
// the first byte `value_ends` accepts.
std::string blank_after(std::string s, std::string_view marker, bool (*value_ends)(char)) {
  for (std::size_t at = s.find(marker); at != std::string::npos; at = s.find(marker, at)) {
    at += marker.size();
    std::size_t end = at;
    while (end < s.size() && !value_ends(s[end])) ++end;
    s.replace(at, end - at, "-");
    ++at;
  }
  return s;
}

// A head without what moves with the clock. (No std::regex: g++ 12 warns
// inside <regex> under -fsanitize, and -Werror.)
std::string timeless(const std::string& head) {
  const auto line_end = [](char c) { return c == '\r'; };
  const auto not_number = [](char c) { return c != '-' && (c < '0' || c > '9'); };
  return blank_after(blank_after(blank_after(head, "\r\nDate: ", line_end), "\r\nAge: ", not_number), "ttl=",
                     not_number);
}

// Three GETs of `path` on one keep-alive connection: plain (fast path), with
// a Cache-Control of its own (full path), plain again; once a GET is a hit.
std::vector<RawResponse> fast_full_fast(const Gateway& gw, const std::string& path) {
  REQUIRE(eventually([&] { return x_cache(http_get(url(gw.port(), path))) == "HIT"; }, 5s));
  // The Host curl sends, so that the key is the one filled.
  const std::string host = "Host: 127.0.0.1:" + std::to_string(gw.port()) + "\r\n";
  const std::string plain = "GET " + path + " HTTP/1.1\r\n" + host + "\r\n";
  const std::string full = "GET " + path + " HTTP/1.1\r\n" + host + "Cache-Control: no-transform\r\n\r\n";
  RawConnection c(gw.port());
  c.send(plain + full + plain);
  return parse_responses(c.read_responses(3));
}

}  // namespace

TEST_CASE("a RAM-tier hit by the fast path has the full path's head and body") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes = "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n";
  Gateway gw(dir, config(dir, svc, s));
  const std::string path = "/api/channels/1?size=1024&cache_control=max-age=60";
  REQUIRE(x_cache(fill(gw, url(gw.port(), path))) == "MISS");
  auto got = fast_full_fast(gw, path);
  REQUIRE(got.size() == 3);
  for (const auto& r : got) {
    CAPTURE(r.head);
    CHECK(r.status == 200);
    CHECK(r.head.find("X-Cache: HIT\r\n") != std::string::npos);
    CHECK(r.body.size() == 1024);
    CHECK(r.body == got[1].body);
  }
  CHECK(timeless(got[0].head) == timeless(got[1].head));
  CHECK(timeless(got[2].head) == timeless(got[1].head));
  CHECK(svc.stat("requests") == 1);
}

TEST_CASE("the route's header rules apply to fast-path hits as to full-path ones") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes = "  - prefix: /\n    upstream: app\n    cache: {zone: main, ttl: 60s}\n"
             "    headers: {response: {set: {X-Frame-Options: DENY}, remove: Server}}\n";
  Gateway gw(dir, config(dir, svc, s));
  const std::string path = "/api/channels/2?size=100&cache_control=max-age=60";
  REQUIRE(x_cache(fill(gw, url(gw.port(), path))) == "MISS");
  auto got = fast_full_fast(gw, path);
  REQUIRE(got.size() == 3);
  for (const auto& r : got) {
    CAPTURE(r.head);
    CHECK(r.head.find("X-Frame-Options: DENY\r\n") != std::string::npos);
    CHECK(r.head.find("\r\nServer:") == std::string::npos);
  }
  CHECK(timeless(got[0].head) == timeless(got[1].head));
}
