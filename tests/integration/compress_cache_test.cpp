// Compression on a cached route (gateway/compress_variant.hpp): the
// compressed variants are made once, on the first hit that asks for their
// coding, stored next to the entry (counted in the zone's bytes) and served
// from there; the instance sees one request; a purge of the URL removes
// every variant; a Range is served from the identity entry.
#include <doctest/doctest.h>

#include <string>

#include "cache_fixture.hpp"
#include "harness.hpp"
#include "harness_compress.hpp"

using namespace itest;
using namespace itest::cache_test;

namespace {

const std::string kPath = "/api/channels/5?size=20000&cache_control=max-age%3D300&etag=%22e5%22";

Setup compressed_setup(int workers = 2) {
  Setup s;
  s.workers = workers;
  s.routes = "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s}, compress: {types: [application/json]}}\n";
  return s;
}

double gauge(const Gateway& gw, std::string_view name) {
  return metric(gw.metrics(), zone_metric(name)).value_or(-1);
}

double made(const Gateway& gw) { return metric(gw.metrics(), "gateway_compress_variants_made_total").value_or(-1); }
double variant_hits(const Gateway& gw) {
  return metric(gw.metrics(), "gateway_compress_variant_hits_total").value_or(-1);
}

}  // namespace

TEST_CASE("compress cache: gzip and br variants are made once per entry, stored, counted and served as hits") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc, compressed_setup()));
  const auto u = url(gw.port(), kPath);
  // The fill: compressed as it streams.
  auto first = fill(gw, u, {"Accept-Encoding: gzip, br"});
  REQUIRE(first.status == 200);
  CHECK(x_cache(first) == "MISS");
  CHECK(first.header("Content-Encoding") == "br");
  auto plain = http_get(u);
  CHECK(x_cache(plain) == "HIT");
  CHECK_FALSE(plain.header("Content-Encoding"));
  CHECK(plain.header("Vary") == "Accept-Encoding");
  CHECK(decode_body("br", first.body) == plain.body);
  const double entry_bytes = gauge(gw, "gateway_cache_bytes");
  CHECK(gauge(gw, "gateway_cache_entries") == 1);

  for (std::string coding : {"gzip", "br"}) {
    INFO(coding);
    const double made_before = made(gw);
    auto a = http_get(u, {"Accept-Encoding: " + coding});  // makes the variant
    auto b = http_get(u, {"Accept-Encoding: " + coding});  // served from it
    for (const auto* r : {&a, &b}) {
      CHECK(x_cache(*r) == "HIT");
      CHECK(r->header("Content-Encoding") == coding);
      CHECK(r->header("ETag") == "W/\"e5\"");
      CHECK(r->header("Vary") == "Accept-Encoding");
      CHECK(r->header("Content-Length") == std::to_string(r->body.size()));  // a stored body: its length is known
      CHECK(decode_body(coding, r->body) == plain.body);
    }
    CHECK(a.body == b.body);
    CHECK(made(gw) == made_before + 1);
    // A HEAD gets the head that GET got: the variant's length, not chunked.
    auto h = head(u, {"Accept-Encoding: " + coding});
    CHECK(h.status == 200);
    CHECK(h.header("Content-Encoding") == coding);
    CHECK(h.header("Content-Length") == std::to_string(b.body.size()));
    CHECK_FALSE(h.header("Transfer-Encoding"));
    CHECK(made(gw) == made_before + 1);
  }
  CHECK(variant_hits(gw) >= 2);
  CHECK(svc.stat("requests") == 1);  // one fill, whatever the codings asked
  // The variants are entries of the zone: counted in its entries and bytes.
  CHECK(gauge(gw, "gateway_cache_entries") == 3);
  CHECK(gauge(gw, "gateway_cache_bytes") > entry_bytes);

  // A Range is answered from the identity entry, never from a variant.
  auto range = http_get(u, {"Accept-Encoding: gzip, br", "Range: bytes=0-99"});
  CHECK(range.status == 206);
  CHECK_FALSE(range.header("Content-Encoding"));
  CHECK(range.body == plain.body.substr(0, 100));
  // A 304 for the weak ETag a compressed response carried.
  auto not_modified = http_get(u, {"Accept-Encoding: gzip", "If-None-Match: W/\"e5\""});
  CHECK(not_modified.status == 304);
  CHECK(svc.stat("requests") == 1);
}

TEST_CASE("compress cache: a purge of the URL removes the entry and every variant") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc, compressed_setup()));
  const auto u = url(gw.port(), kPath);
  fill(gw, u);
  http_get(u, {"Accept-Encoding: gzip"});
  http_get(u, {"Accept-Encoding: br"});
  REQUIRE(gauge(gw, "gateway_cache_entries") == 3);
  auto r = post(url(gw.admin_port(), "/purge?url=" + pct(u)), {}, "");
  CHECK(r.status == 200);
  CHECK(json_int(r.body, "purged") == 3);
  CHECK(gauge(gw, "gateway_cache_entries") == 0);
  CHECK(eventually([&] { return gauge(gw, "gateway_cache_bytes") == 0; }));
  // Asked again: a new fill, and new variants from it.
  auto again = http_get(u, {"Accept-Encoding: gzip"});
  CHECK(x_cache(again) == "MISS");
  CHECK(svc.stat("requests") == 2);
}

TEST_CASE("compress cache: a variant goes when its entry is replaced by a new fill") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes = "  - {prefix: /, upstream: app, cache: {zone: main, ttl: 60s, honor_client_no_cache: true},\n"
             "     compress: on}\n";
  Gateway gw(dir, config(dir, svc, s));
  // No validators: a forced refresh fetches a new 200 that replaces the entry.
  const auto u = url(gw.port(), "/api/channels/5?size=20000&cache_control=max-age%3D300");
  fill(gw, u);
  auto gz = http_get(u, {"Accept-Encoding: gzip"});
  CHECK(x_cache(gz) == "HIT");
  REQUIRE(gauge(gw, "gateway_cache_entries") == 2);
  auto refill = fill(gw, u, {"Cache-Control: no-cache"});
  CHECK(x_cache(refill) != "HIT");
  CHECK(svc.stat("requests") == 2);
  CHECK(eventually([&] { return gauge(gw, "gateway_cache_entries") == 1; }));
  // The next gzip hit makes a new variant from the new body.
  const double before = made(gw);
  CHECK(x_cache(http_get(u, {"Accept-Encoding: gzip"})) == "HIT");
  CHECK(made(gw) == before + 1);
}
