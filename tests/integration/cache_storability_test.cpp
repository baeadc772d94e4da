// The disk cache end to end, what is stored and who is served it: Set-Cookie,
// Authorization, no-store and private, Vary, bypass headers and unsafe
// methods, and the route TTLs for other statuses. Real gateway and sample-
// service processes, a cache zone in a temporary directory; shared helpers
// are in cache_fixture.hpp.
//
// The instance's /stats ("requests") counts what reached the fleet. Where
// time must pass for an entry to go stale, TTLs are 1-3 s and the test polls
// (each poll a HIT, which costs the fleet nothing) until the cache's answer
// changes; nothing sleeps blindly.
#include <doctest/doctest.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "cache_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::cache_test;
namespace fs = std::filesystem;

namespace {

// Every regular file under the zone that holds bytes, tmp/ included (the
// store keeps a few empty temporary files ready for fills).
std::size_t all_files(const std::string& zone) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(zone, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec))
    if (it->is_regular_file(ec) && it->file_size(ec) > 0) ++n;
  return n;
}

}  // namespace

// ------------------------------------------------------------------ what a shared cache must not keep

TEST_CASE("cache: Set-Cookie responses are not stored unless the route allows it, and the cookie never is") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes =
      "  - {prefix: /api/chat/, upstream: app, cache: {zone: main, ttl: 60s, store_set_cookie: true}}\n"
      "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n";
  Gateway gw(dir, config(dir, svc, s));

  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=60&set_cookie=sid%3Dsecret1");
  auto r1 = http_get(u);
  CHECK(r1.status == 200);
  CHECK(x_cache(r1) == "MISS");
  CHECK(r1.header("Set-Cookie") == "sid=secret1");
  auto r2 = http_get(u);
  CHECK(x_cache(r2) == "MISS");
  CHECK(r2.header("Set-Cookie") == "sid=secret1");  // the instance's answer to this client
  CHECK(cache_status(r2).find("set-cookie") != std::string::npos);
  CHECK(svc.stat("requests") == 2);

  const auto allowed = url(gw.port(), "/api/chat/1?cache_control=max-age=60&set_cookie=sid%3Dsecret2");
  auto a1 = fill(gw, allowed);
  CHECK(x_cache(a1) == "MISS");
  CHECK(a1.header("Set-Cookie") == "sid=secret2");  // the client that caused the fill gets its cookie
  auto a2 = http_get(allowed);
  CHECK(x_cache(a2) == "HIT");
  CHECK(a2.header_count("Set-Cookie") == 0);
  CHECK(svc.stat("requests") == 3);
  // Nor is it on disk (the URL holds it percent-encoded: look for the field).
  auto files = entry_files(zone_path(dir));
  CHECK(files.size() == 1);
  for (const auto& f : files) {
    auto bytes = read_file(f.string());
    CHECK(bytes.find("sid=secret") == std::string::npos);
    CHECK(bytes.find("Set-Cookie") == std::string::npos);
  }
}

TEST_CASE("cache: a response to a request with Authorization is stored only if public or s-maxage") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const std::vector<std::string> auth = {"Authorization: Bearer alice"};

  // Not stored: the next (anonymous) client does not get Alice's response.
  const auto plain = url(gw.port(), "/api/channels/1?cache_control=max-age=60");
  auto p1 = http_get(plain, auth);
  CHECK(p1.status == 200);
  CHECK(x_cache(p1) == "MISS");
  CHECK(cache_status(p1).find("authorization") != std::string::npos);
  auto p2 = http_get(plain);
  CHECK(x_cache(p2) == "MISS");
  CHECK(svc.stat("requests") == 2);

  for (const char* cc : {"public,max-age=60", "s-maxage=60"}) {
    INFO(cc);
    const auto u = url(gw.port(), "/api/channels/2?cache_control=" + std::string(cc));
    auto before = svc.stat("requests");
    CHECK(x_cache(fill(gw, u, auth)) == "MISS");
    CHECK(x_cache(http_get(u)) == "HIT");
    CHECK(svc.stat("requests") == before + 1);
  }
}

TEST_CASE("cache: an entry stored for anonymous clients is not served to a request with Authorization") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=60");
  REQUIRE(x_cache(fill(gw, u)) == "MISS");
  REQUIRE(x_cache(http_get(u)) == "HIT");
  auto r = http_get(u, {"Authorization: Bearer alice"});
  CHECK(r.status == 200);
  CHECK(x_cache(r) != "HIT");
  CHECK(svc.stat("requests") == 2);
  // With public the stored response may serve it.
  const auto pub = url(gw.port(), "/api/channels/2?cache_control=public,max-age=60");
  REQUIRE(x_cache(fill(gw, pub)) == "MISS");
  CHECK(x_cache(http_get(pub, {"Authorization: Bearer alice"})) == "HIT");
}

TEST_CASE("cache: no-store and private responses never reach the disk") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const std::string zone = zone_path(dir);
  for (const char* cc : {"no-store", "private", "private,max-age=60", "no-store,max-age=60"}) {
    INFO(cc);
    const auto u = url(gw.port(), "/api/channels/1?size=20000&cache_control=" + std::string(cc));
    auto before = svc.stat("requests");
    auto r1 = http_get(u);
    CHECK(r1.status == 200);
    CHECK(x_cache(r1) == "MISS");
    CHECK(cache_status(r1).find(std::string(cc).substr(0, std::string(cc).find(','))) != std::string::npos);
    CHECK(x_cache(http_get(u)) == "MISS");
    CHECK(svc.stat("requests") == before + 2);
    CHECK(all_files(zone) == 0);  // not even a temporary file
  }
  CHECK(metric(gw.metrics(), "gateway_cache_stores_total{zone=\"main\"}") == 0);
  // The check above can see files: a storable response makes one.
  REQUIRE(x_cache(http_get(url(gw.port(), "/api/channels/2?cache_control=max-age=60"))) == "MISS");
  CHECK(eventually([&] { return entry_files(zone).size() == 1; }));
}

// ------------------------------------------------------------------ Vary

TEST_CASE("cache: Vary keeps one entry per Accept-Language, each served to its own clients") {
  TempDir dir;
  SampleService a(dir, "a"), b(dir, "b");
  Setup s;
  s.workers = 1;  // one round-robin rotation: the two fills come from different instances
  Gateway gw(dir, config(dir, {&a, &b}, s));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=300&vary=Accept-Language");
  auto en1 = fill(gw, u, {"Accept-Language: en"});
  auto de1 = fill(gw, u, {"Accept-Language: de"});
  REQUIRE(x_cache(en1) == "MISS");
  REQUIRE(x_cache(de1) == "MISS");
  REQUIRE(en1.header("X-Instance").has_value());
  REQUIRE(en1.header("X-Instance") != de1.header("X-Instance"));
  CHECK(en1.header("Vary") == "Accept-Language");
  for (int i = 0; i < 3; ++i) {
    auto en = http_get(u, {"Accept-Language: en"});
    auto de = http_get(u, {"Accept-Language: de"});
    CHECK(x_cache(en) == "HIT");
    CHECK(x_cache(de) == "HIT");
    CHECK(en.header("X-Instance") == en1.header("X-Instance"));
    CHECK(de.header("X-Instance") == de1.header("X-Instance"));
    CHECK(en.body == en1.body);
    CHECK(de.body == de1.body);
  }
  CHECK(a.stat("requests") + b.stat("requests") == 2);
  // Another language, and no Accept-Language at all, are variants of their own.
  CHECK(x_cache(fill(gw, u, {"Accept-Language: fr"})) == "MISS");
  CHECK(x_cache(fill(gw, u)) == "MISS");
  CHECK(x_cache(http_get(u)) == "HIT");
  CHECK(a.stat("requests") + b.stat("requests") == 4);
  CHECK(metric(gw.metrics(), "gateway_cache_entries{zone=\"main\"}") == 4);
}

// ------------------------------------------------------------------ bypass

TEST_CASE("cache: bypass headers and unsafe methods go past the cache") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes = "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s, bypass: {headers: [X-No-Cache]}}}\n";
  Gateway gw(dir, config(dir, svc, s));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=300");
  auto b1 = http_get(u, {"X-No-Cache: 1"});
  CHECK(b1.status == 200);
  CHECK(x_cache(b1) == "BYPASS");
  CHECK(svc.stat("requests") == 1);
  CHECK(x_cache(fill(gw, u)) == "MISS");  // the bypassed response was not stored
  CHECK(x_cache(http_get(u)) == "HIT");
  auto b2 = http_get(u, {"X-No-Cache: yes"});
  CHECK(x_cache(b2) == "BYPASS");
  CHECK(svc.stat("requests") == 3);
  // "0" and "" do not bypass (nginx's proxy_cache_bypass).
  CHECK(x_cache(http_get(u, {"X-No-Cache: 0"})) == "HIT");
  auto p = post(url(gw.port(), "/api/channels/2"));
  CHECK(p.status == 200);
  CHECK(x_cache(p) == "BYPASS");
  CHECK(svc.stat("requests") == 4);
  CHECK(metric(gw.metrics(), "gateway_cache_responses_total{zone=\"main\",status=\"BYPASS\"}") == 3);
}

// ------------------------------------------------------------------ route TTLs

TEST_CASE("cache: valid stores a 404 for its TTL and override lets the route's TTL win over max-age=0") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes =
      "  - {prefix: /api/chat/, upstream: app, cache: {zone: main, valid: {404: 10s}}}\n"
      "  - {prefix: /api/recommended/, upstream: app, cache: {zone: main, ttl: 60s, override: true}}\n"
      "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n";
  Gateway gw(dir, config(dir, svc, s));
  auto get = [&](const std::string& p) { return http_get(url(gw.port(), p)); };

  auto n1 = fill(gw, url(gw.port(), "/api/chat/1?status=404"));
  CHECK(n1.status == 404);
  CHECK(x_cache(n1) == "MISS");
  auto n2 = get("/api/chat/1?status=404");
  CHECK(n2.status == 404);
  CHECK(x_cache(n2) == "HIT");
  CHECK(n2.body == n1.body);
  CHECK(svc.stat("requests") == 1);
  // A 200 on that route has no TTL (valid lists 404 only): not stored.
  CHECK(x_cache(get("/api/chat/2")) == "MISS");
  CHECK(x_cache(get("/api/chat/2")) == "MISS");
  CHECK(svc.stat("requests") == 3);

  // max-age=0 wins without override...
  CHECK(x_cache(get("/api/channels/1?cache_control=max-age=0")) == "MISS");
  CHECK(x_cache(get("/api/channels/1?cache_control=max-age=0")) == "MISS");
  CHECK(svc.stat("requests") == 5);
  // ... and loses with it.
  CHECK(x_cache(fill(gw, url(gw.port(), "/api/recommended/1?cache_control=max-age=0"))) == "MISS");
  auto o = get("/api/recommended/1?cache_control=max-age=0");
  CHECK(x_cache(o) == "HIT");
  CHECK(o.header("Cache-Control") == "max-age=0");
  CHECK(svc.stat("requests") == 6);
}
