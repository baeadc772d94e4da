// HTTP semantics of the cache end to end (issue 10): an Expires that is not
// a valid HTTP-date (RFC 9111 5.3), Range requests answered from stored
// entries in the RAM tier and on disk (RFC 9110 14), Range misses,
// only-if-cached (RFC 9111 5.2.1.7), targeted cache control (RFC 9213) and
// heuristic freshness (RFC 9111 4.2.2). Real gateway processes in front of
// sample-service (shaped by query knobs) or a CaptureServer (an exact
// scripted answer, and the requests as the upstream got them).
#include <doctest/doctest.h>

#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace itest;

namespace {

std::string x_cache(const Response& r) { return r.header("X-Cache").value_or("(none)"); }
std::string cache_status(const Response& r) { return r.header("Cache-Status").value_or("(none)"); }
bool has(const std::string& text, std::string_view needle) { return text.find(needle) != std::string::npos; }

// Zones "ram" (small entries held in memory) and "disk" (memory: 0: every
// hit read from the entry's file), upstream "app", and the given routes.
std::string config(const TempDir& dir, const std::string& upstream, const std::string& routes,
                   const std::string& ram_extra = "") {
  return "workers: 2\ncaches:\n  ram: {path: \"" + dir.file("ram") + "\"" + ram_extra + "}\n  disk: {path: \"" +
         dir.file("disk") + "\", memory: 0}\nupstreams:\n  app:\n    instances: [\"" + upstream +
         "\"]\n    retries: 0\n    max_fails: 0\nroutes:\n" + routes;
}

double stores(const Gateway& gw, std::string_view zone) {
  return metric(gw.metrics(), "gateway_cache_stores_total{zone=\"" + std::string(zone) + "\"}").value_or(-1);
}

// A GET that fills zone `zone`: returns once the entry is committed.
Response fill(const Gateway& gw, std::string_view zone, const std::string& u, std::vector<std::string> headers = {}) {
  const auto before = stores(gw, zone);
  auto r = http_get(u, std::move(headers));
  CHECK_MESSAGE(eventually([&] { return stores(gw, zone) > before; }, 5s), "not stored: " << u);
  return r;
}

// A body whose every position holds different bytes: "<0><1>...<n>" cut to
// `size`, so a part taken from the wrong offset never matches.
std::string numbered_body(std::size_t size) {
  std::string body;
  for (int i = 0; body.size() < size; ++i) body += "<" + std::to_string(i) + ">";
  body.resize(size);
  return body;
}

std::string upstream_response(const std::string& body, const std::string& fields) {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + fields + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// The parts of a multipart/byteranges body: each part's Content-Range and
// bytes, in order. Empty if it is not well formed.
struct Part {
  std::string content_range;
  std::string bytes;
};
std::vector<Part> multipart_parts(const std::string& body, const std::string& boundary) {
  std::vector<Part> parts;
  const std::string delimiter = "--" + boundary;
  std::size_t at = body.find(delimiter);
  while (at != std::string::npos) {
    at += delimiter.size();
    if (body.compare(at, 4, "--\r\n") == 0) return parts;  // the close delimiter
    const auto head_end = body.find("\r\n\r\n", at);
    if (head_end == std::string::npos) return {};
    const std::string head = body.substr(at, head_end - at);
    const auto next = body.find("\r\n" + delimiter, head_end + 4);
    if (next == std::string::npos) return {};
    parts.push_back({head_header("X" + head, "Content-Range").value_or(""), body.substr(head_end + 4, next - head_end - 4)});
    at = next + 2;
  }
  return {};
}

}  // namespace

// ------------------------------------------------------------------ Expires

TEST_CASE("cache semantics: an Expires that is not a valid HTTP-date counts as expired, each spelling fetched again") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc.address(), "  - {prefix: /, upstream: app, cache: {zone: disk, ttl: 60s}}\n"));
  struct Case {
    const char* name;
    std::vector<std::string> expires;
  };
  const std::vector<Case> cases = {
      {"one-digit hour", {"Tue, 14 Nov 2099 9:13:20 GMT"}},
      {"a zone other than GMT", {"Tue, 14 Nov 2099 23:13:20 PST"}},
      {"two Expires lines", {"Tue, 14 Nov 2099 23:13:20 GMT", "Tue, 14 Nov 2099 23:13:20 GMT"}},
      {"extra spaces", {"Tue,  14 Nov 2099  23:13:20 GMT"}},
  };
  int n = 0;
  for (const auto& c : cases) {
    CAPTURE(c.name);
    std::string u = "/api/channels/" + std::to_string(++n) + "?x=1";
    for (const auto& e : c.expires) u += "&header=" + pct("Expires: " + e);
    const auto before = svc.stat("requests");
    auto r1 = http_get(url(gw.port(), u));
    auto r2 = http_get(url(gw.port(), u));
    CHECK(r1.status == 200);
    CHECK(r2.status == 200);
    CHECK(x_cache(r2) == "MISS");
    CHECK(has(cache_status(r2), "detail=no validator"));
    CHECK(svc.stat("requests") == before + 2);
  }
  // The same date, valid: a HIT (the test can tell the difference).
  const auto valid = "/api/channels/99?header=" + pct("Expires: Tue, 14 Nov 2099 23:13:20 GMT");
  fill(gw, "disk", url(gw.port(), valid));
  CHECK(x_cache(http_get(url(gw.port(), valid))) == "HIT");
}

// ------------------------------------------------------------------ Range from stored entries

TEST_CASE("cache semantics: ranges of a stored entry, RAM tier and disk, byte by byte against the stored body") {
  TempDir dir;
  const std::string body = numbered_body(3000);
  const std::string last_modified = "Tue, 14 Nov 2023 22:13:20 GMT";
  CaptureServer up(upstream_response(body, "Cache-Control: max-age=600\r\nETag: \"r1\"\r\nLast-Modified: " +
                                               last_modified + "\r\n"));
  Gateway gw(dir, config(dir, up.address(),
                         "  - {prefix: /ram/, upstream: app, cache: ram}\n"
                         "  - {prefix: /disk/, upstream: app, cache: disk}\n"));
  for (const std::string zone : {"ram", "disk"}) {
    CAPTURE(zone);
    const auto u = url(gw.port(), "/" + zone + "/object");
    auto full = fill(gw, zone, u);
    REQUIRE(full.status == 200);
    REQUIRE(full.body == body);
    CHECK(full.header("Accept-Ranges") == "bytes");
    auto hit = http_get(u);
    CHECK(x_cache(hit) == "HIT");
    CHECK(hit.header("Accept-Ranges") == "bytes");
    CHECK(hit.header_count("Accept-Ranges") == 1);

    struct Case {
      const char* range;
      std::size_t first, size;
    };
    const std::vector<Case> cases = {
        {"bytes=0-0", 0, 1},          {"bytes=0-99", 0, 100},       {"bytes=1000-1999", 1000, 1000},
        {"bytes=2999-2999", 2999, 1}, {"bytes=2990-5000", 2990, 10}, {"bytes=-100", 2900, 100},
        {"bytes=-5000", 0, 3000},     {"bytes=2500-", 2500, 500},   {"bytes=0-", 0, 3000},
    };
    for (const auto& c : cases) {
      CAPTURE(c.range);
      auto r = http_get(u, {std::string("Range: ") + c.range});
      REQUIRE(r.status == 206);
      CHECK(r.body == body.substr(c.first, c.size));
      CHECK(r.header("Content-Range") ==
            "bytes " + std::to_string(c.first) + "-" + std::to_string(c.first + c.size - 1) + "/3000");
      CHECK(r.header("Content-Length") == std::to_string(c.size));
      CHECK(x_cache(r) == "HIT");
      CHECK(has(cache_status(r), "gateway; hit"));
      CHECK(r.header("ETag") == "\"r1\"");
      CHECK(r.header("Accept-Ranges") == "bytes");
      CHECK(r.header("Age").has_value());
    }

    // Beyond the end: 416 with the length (RFC 9110 15.5.17).
    auto beyond = http_get(u, {"Range: bytes=3000-"});
    CHECK(beyond.status == 416);
    CHECK(beyond.header("Content-Range") == "bytes */3000");
    CHECK(beyond.body.empty());
    CHECK(x_cache(beyond) == "HIT");

    // If-Range: a strong ETag or the (strong) Last-Modified that matches
    // gets the part; anything else the whole 200.
    for (const std::string& validator : {std::string("\"r1\""), last_modified}) {
      auto r = http_get(u, {"Range: bytes=10-19", "If-Range: " + validator});
      CHECK(r.status == 206);
      CHECK(r.body == body.substr(10, 10));
    }
    for (const std::string& validator : {std::string("\"r0\""), std::string("W/\"r1\""),
                                        std::string("Tue, 14 Nov 2023 22:13:21 GMT")}) {
      CAPTURE(validator);
      auto r = http_get(u, {"Range: bytes=10-19", "If-Range: " + validator});
      CHECK(r.status == 200);
      CHECK(r.body == body);
      CHECK(x_cache(r) == "HIT");
    }

    // Several ranges: one multipart/byteranges 206, parts in the order asked.
    auto multi = http_get(u, {"Range: bytes=2990-2999,0-9,100-109"});
    REQUIRE(multi.status == 206);
    const auto type = multi.header("Content-Type").value_or("");
    REQUIRE(type.rfind("multipart/byteranges; boundary=", 0) == 0);
    CHECK(multi.header("Content-Length") == std::to_string(multi.body.size()));
    const auto parts = multipart_parts(multi.body, type.substr(type.find('=') + 1));
    REQUIRE(parts.size() == 3);
    CHECK(parts[0].content_range == "bytes 2990-2999/3000");
    CHECK(parts[0].bytes == body.substr(2990, 10));
    CHECK(parts[1].content_range == "bytes 0-9/3000");
    CHECK(parts[1].bytes == body.substr(0, 10));
    CHECK(parts[2].content_range == "bytes 100-109/3000");
    CHECK(parts[2].bytes == body.substr(100, 10));

    // Ranges that are ignored: the whole 200.
    for (const char* ignored : {"bytes=20-10", "items=0-9", "bytes=0-2999,0-2999"}) {
      CAPTURE(ignored);
      auto r = http_get(u, {std::string("Range: ") + ignored});
      CHECK(r.status == 200);
      CHECK(r.body == body);
    }
  }
  CHECK(up.requests().size() == 2);  // one fill per zone; every range came from the store
}

// ------------------------------------------------------------------ Range misses

TEST_CASE("cache semantics: a Range miss fills the whole object and answers the range, the next GET is a HIT") {
  TempDir dir;
  const std::string body = numbered_body(5000);
  CaptureServer up(upstream_response(body, "Cache-Control: max-age=600\r\nETag: \"m1\"\r\n"));
  Gateway gw(dir, config(dir, up.address(), "  - {prefix: /, upstream: app, cache: disk}\n"));

  const auto before = stores(gw, "disk");
  auto part = http_get(url(gw.port(), "/a"), {"Range: bytes=4000-4099"});
  REQUIRE(part.status == 206);
  CHECK(part.body == body.substr(4000, 100));
  CHECK(part.header("Content-Range") == "bytes 4000-4099/5000");
  CHECK(x_cache(part) == "MISS");
  CHECK(has(cache_status(part), "stored"));
  REQUIRE(eventually([&] { return stores(gw, "disk") > before; }));
  REQUIRE(up.requests().size() == 1);
  CHECK_FALSE(has(up.requests()[0], "Range:"));  // the fill asked for the whole object

  auto whole = http_get(url(gw.port(), "/a"));
  CHECK(whole.status == 200);
  CHECK(x_cache(whole) == "HIT");
  CHECK(whole.body == body);

  // An unsatisfiable range on a miss: 416 for the client, the object stored all the same.
  const auto before_b = stores(gw, "disk");
  auto refused = http_get(url(gw.port(), "/b"), {"Range: bytes=9000-"});
  CHECK(refused.status == 416);
  CHECK(refused.header("Content-Range") == "bytes */5000");
  CHECK(x_cache(refused) == "MISS");
  REQUIRE(eventually([&] { return stores(gw, "disk") > before_b; }));
  CHECK(x_cache(http_get(url(gw.port(), "/b"))) == "HIT");
  CHECK(up.requests().size() == 2);
}

TEST_CASE("cache semantics: a Range request that follows another request's fill gets its range, one upstream request") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc.address(), "  - {prefix: /, upstream: app, cache: {zone: disk, ttl: 60s}}\n"));
  const auto u = url(gw.port(), "/api/channels/7?size=20000&delay_ms=800");
  Response leader;
  std::thread t([&] { leader = http_get(u); });
  REQUIRE(eventually([&] { return svc.stat("requests") == 1; }));
  auto follower = http_get(u, {"Range: bytes=15000-15099"});
  t.join();
  REQUIRE(leader.status == 200);
  REQUIRE(leader.body.size() == 20000);
  CHECK(follower.status == 206);
  CHECK(follower.header("Content-Range") == "bytes 15000-15099/20000");
  CHECK(follower.body == leader.body.substr(15000, 100));
  CHECK(x_cache(follower) == "MISS");
  CHECK(has(cache_status(follower), "collapsed"));
  CHECK(svc.stat("requests") == 1);
}

TEST_CASE("cache semantics: a Range miss of an object over range_fill_max goes upstream with its Range, unfilled") {
  TempDir dir;
  const std::string body = numbered_body(3000);
  CaptureServer up(upstream_response(body, "Cache-Control: max-age=600\r\n"));
  Gateway gw(dir, config(dir, up.address(), "  - {prefix: /, upstream: app, cache: {zone: disk, range_fill_max: 1000}}\n"));

  // The fill's head says 3000 bytes: this request is passed on with its Range.
  auto r1 = http_get(url(gw.port(), "/big"), {"Range: bytes=0-9"});
  CHECK(r1.status == 200);  // what the upstream answered (it ignores Range)
  CHECK(x_cache(r1) == "MISS");
  CHECK(has(cache_status(r1), "detail=range-pass"));
  REQUIRE(up.requests().size() == 2);
  CHECK_FALSE(has(up.requests()[0], "Range:"));
  CHECK(has(up.requests()[1], "Range: bytes=0-9"));

  // For a while the key is not filled for ranges: the next goes up at once.
  auto r2 = http_get(url(gw.port(), "/big"), {"Range: bytes=10-19"});
  CHECK(has(cache_status(r2), "detail=range-pass"));
  CHECK(up.requests().size() == 3);
  CHECK(has(up.requests()[2], "Range: bytes=10-19"));

  // A GET without Range stores it; then ranges come from the store.
  fill(gw, "disk", url(gw.port(), "/big"));
  auto r3 = http_get(url(gw.port(), "/big"), {"Range: bytes=20-29"});
  CHECK(r3.status == 206);
  CHECK(r3.body == body.substr(20, 10));
  CHECK(x_cache(r3) == "HIT");
  CHECK(up.requests().size() == 4);
}

// ------------------------------------------------------------------ only-if-cached

TEST_CASE("cache semantics: only-if-cached gets a 504 when nothing stored can be used, never the upstream") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc.address(),
                         "  - {prefix: /api/channels/, upstream: app, cache: disk}\n"
                         "  - {prefix: /api/chat/, upstream: app, cache: {zone: disk, honor_client_no_cache: true}}\n"));
  const std::vector<std::string> only = {"Cache-Control: only-if-cached"};

  // Nothing stored: 504, and the fleet never hears of it.
  auto cold = http_get(url(gw.port(), "/api/channels/1?cache_control=max-age=60"), only);
  CHECK(cold.status == 504);
  CHECK(x_cache(cold) == "MISS");
  CHECK(cache_status(cold) == "gateway; detail=only-if-cached");
  CHECK(svc.stat("requests") == 0);

  // Stored and fresh: served.
  const auto fresh = url(gw.port(), "/api/channels/2?cache_control=max-age=60");
  fill(gw, "disk", fresh);
  auto hit = http_get(fresh, only);
  CHECK(hit.status == 200);
  CHECK(x_cache(hit) == "HIT");
  CHECK(svc.stat("requests") == 1);

  // Stored but stale, and only a revalidation could use it: 504, no revalidation.
  const auto stale = url(gw.port(), "/api/channels/3?cache_control=max-age=1&etag=v3");
  fill(gw, "disk", stale);
  Response r;
  CHECK(eventually([&] {
    r = http_get(stale, only);
    return r.status != 200;
  }));
  CHECK(r.status == 504);
  CHECK(svc.stat("requests") == 2);

  // A route that honours the client's directives: max-stale accepts it.
  const auto chat = url(gw.port(), "/api/chat/4?cache_control=max-age=1&etag=v4");
  fill(gw, "disk", chat);
  CHECK(eventually([&] { return http_get(chat, only).status == 504; }));
  auto accepted = http_get(chat, {"Cache-Control: only-if-cached, max-stale=600"});
  CHECK(accepted.status == 200);
  CHECK(svc.stat("requests") == 3);
}

// ------------------------------------------------------------------ targeted cache control

TEST_CASE("cache semantics: CDN-Cache-Control decides what the gateway stores, and is sent downstream unchanged") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc.address(),
                         "  - {prefix: /api/channels/, upstream: app, cache: disk}\n"
                         "  - {prefix: /api/chat/, upstream: app, cache: {zone: disk, targeted_fields: "
                         "[Gateway-Cache-Control, CDN-Cache-Control]}}\n"
                         "  - {prefix: /api/recommended/, upstream: app, cache: {zone: disk, targeted_fields: []}}\n"));
  // Stored: filled once, then a HIT. Not stored: each request a MISS.
  auto stored = [&](const std::string& path) {
    fill(gw, "disk", url(gw.port(), path));
    return http_get(url(gw.port(), path));
  };
  auto not_stored = [&](const std::string& path) {
    const auto before = svc.stat("requests");
    http_get(url(gw.port(), path));
    auto again = http_get(url(gw.port(), path));
    CHECK(svc.stat("requests") == before + 2);
    return again;
  };

  // Cache-Control for the browsers, CDN-Cache-Control for this cache.
  const auto cdn = stored("/api/channels/1?cache_control=no-store&header=" + pct("CDN-Cache-Control: max-age=60"));
  CHECK(x_cache(cdn) == "HIT");
  CHECK(cdn.header("Cache-Control") == "no-store");
  CHECK(cdn.header("CDN-Cache-Control") == "max-age=60");

  const auto refused = not_stored("/api/channels/2?cache_control=max-age=60&header=" + pct("CDN-Cache-Control: no-store"));
  CHECK(x_cache(refused) == "MISS");
  CHECK(has(cache_status(refused), "detail=no-store"));
  CHECK(refused.header("Cache-Control") == "max-age=60");
  CHECK(refused.header("CDN-Cache-Control") == "no-store");

  // An invalid targeted field is ignored: Cache-Control decides.
  const auto invalid = not_stored("/api/channels/3?cache_control=no-store&header=" + pct("CDN-Cache-Control: max-age=\"60"));
  CHECK(has(cache_status(invalid), "detail=no-store"));

  // The rule's list, the first present wins.
  const auto first_wins = not_stored("/api/chat/4?cache_control=max-age=60&header=" +
                                     pct("Gateway-Cache-Control: no-store") + "&header=" +
                                     pct("CDN-Cache-Control: max-age=60"));
  CHECK(has(cache_status(first_wins), "detail=no-store"));
  const auto next_one = stored("/api/chat/5?cache_control=no-store&header=" + pct("CDN-Cache-Control: max-age=60"));
  CHECK(x_cache(next_one) == "HIT");

  // targeted_fields: [] turns it off.
  const auto off = not_stored("/api/recommended/6?cache_control=no-store&header=" + pct("CDN-Cache-Control: max-age=60"));
  CHECK(has(cache_status(off), "detail=no-store"));
}

// ------------------------------------------------------------------ heuristic freshness

TEST_CASE("cache semantics: a zone's heuristic makes a Last-Modified response fresh, capped, and Cache-Status says so") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc.address(),
                         "  - {prefix: /api/channels/, upstream: app, cache: ram}\n"
                         "  - {prefix: /api/chat/, upstream: app, cache: disk}\n",
                         ", heuristic: {fraction: 10%, max: 1h}"));
  const auto ten_days_ago = std::to_string(std::time(nullptr) - 10 * 86400);
  const auto u = url(gw.port(), "/api/channels/1?last_modified=" + ten_days_ago);
  auto first = fill(gw, "ram", u);
  CHECK(x_cache(first) == "MISS");
  auto hit = http_get(u);
  CHECK(x_cache(hit) == "HIT");
  const auto status = cache_status(hit);
  CHECK(has(status, "detail=heuristic"));
  // 10% of ten days is a day; capped at an hour.
  const auto ttl = std::stoll(status.substr(status.find("ttl=") + 4));
  CHECK(ttl <= 3600);
  CHECK(ttl >= 3590);
  REQUIRE(hit.header("Age").has_value());
  CHECK(svc.stat("requests") == 1);

  // The zone without it: no freshness, not stored.
  const auto off = url(gw.port(), "/api/chat/2?last_modified=" + ten_days_ago);
  auto m1 = http_get(off);
  auto m2 = http_get(off);
  CHECK(x_cache(m2) == "MISS");
  CHECK(has(cache_status(m1), "detail=no freshness"));
  CHECK(svc.stat("requests") == 3);
}
