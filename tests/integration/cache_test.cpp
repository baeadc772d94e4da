// The disk cache end to end: real gateway and sample-service processes, a
// cache zone in a temporary directory. What DESIGN.md "What the cache
// promises" and issue 3 list is spread over the cache_*_test.cpp files: this
// one holds MISS then HIT with one upstream request, coalescing and the cache
// metrics; cache_validation_test.cpp revalidation, stale-while-revalidate and
// stale-if-error; cache_disk_test.cpp restarts, damaged files and max_size
// under eviction (LRU and S3-FIFO); cache_purge_test.cpp purges and
// invalidation; cache_storability_test.cpp what a shared cache must not store
// or serve, Vary, bypass and per-status TTLs. Shared helpers are in
// cache_fixture.hpp.
//
// The instance's /stats ("requests") counts what reached the fleet. Where
// time must pass for an entry to go stale, TTLs are 1-3 s and the test polls
// (each poll a HIT, which costs the fleet nothing) until the cache's answer
// changes; nothing sleeps blindly.
#include <doctest/doctest.h>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cache_fixture.hpp"
#include "harness.hpp"

using namespace itest;
using namespace itest::cache_test;
namespace fs = std::filesystem;

// ------------------------------------------------------------------ hits

TEST_CASE("cache: MISS then HIT with one upstream request, Age on the hit, HEAD from the GET entry") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=60&size=3000");

  auto r1 = fill(gw, u);
  REQUIRE(r1.status == 200);
  CHECK(x_cache(r1) == "MISS");
  CHECK(cache_status(r1).find("fwd=uri-miss") != std::string::npos);
  CHECK(cache_status(r1).find("stored") != std::string::npos);
  CHECK_FALSE(r1.header("Age").has_value());
  CHECK(r1.body.size() == 3000);

  auto r2 = http_get(u);
  REQUIRE(r2.status == 200);
  CHECK(x_cache(r2) == "HIT");
  CHECK(cache_status(r2).rfind("gateway; hit", 0) == 0);
  REQUIRE(r2.header("Age").has_value());
  CHECK(age_of(r2) >= 0);
  CHECK(age_of(r2) <= 1);
  CHECK(r2.body == r1.body);
  CHECK(r2.header("Content-Type") == r1.header("Content-Type"));
  CHECK(r2.header("Cache-Control") == "max-age=60");
  CHECK(r2.header("X-Instance") == "svc");
  CHECK(r2.header_count("X-Cache") == 1);
  CHECK(svc.stat("requests") == 1);

  auto h = head(u);
  CHECK(h.status == 200);
  CHECK(x_cache(h) == "HIT");
  CHECK(h.header("Content-Length") == "3000");
  CHECK(h.body.empty());
  CHECK(svc.stat("requests") == 1);

  // A HEAD for a cold key fills the GET entry (the fleet sees a GET).
  const auto u2 = url(gw.port(), "/api/channels/2?cache_control=max-age=60");
  auto before = stores(gw);
  auto h2 = head(u2);
  CHECK(h2.status == 200);
  CHECK(x_cache(h2) == "MISS");
  CHECK(h2.body.empty());
  CHECK(eventually([&] { return stores(gw) > before; }));
  auto g2 = http_get(u2);
  CHECK(x_cache(g2) == "HIT");
  CHECK(!g2.body.empty());
  CHECK(g2.header("Content-Length") == std::to_string(g2.body.size()));
  CHECK(svc.stat("requests") == 2);
}

// ------------------------------------------------------------------ coalescing

TEST_CASE("cache: 200 concurrent requests for a cold key make one upstream request and 200 identical bodies") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const std::string path = "/api/channels/7?cache_control=max-age=60&delay_ms=300&size=50000";

  // All connections are open before any request leaves, then the 200
  // requests go out back to back: they all reach the gateway well inside
  // the instance's 300 ms.
  constexpr int kClients = 200;
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < kClients; ++i) conns.push_back(std::make_unique<RawConnection>(gw.port()));
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: cache.test\r\n\r\n";
  for (auto& c : conns) REQUIRE(c->send(request));
  std::vector<RawResponse> responses;
  for (auto& c : conns) {
    auto got = parse_responses(c->read_responses(1, 20s));
    responses.push_back(got.empty() ? RawResponse{} : got.front());
  }

  CHECK(svc.stat("requests") == 1);
  int ok = 0, miss = 0, collapsed = 0, same = 0;
  std::set<std::string> others;
  for (const auto& r : responses) {
    auto xc = head_header(r.head, "X-Cache").value_or("(none)");
    if (r.status == 200) ++ok;
    if (xc == "MISS") ++miss;
    else others.insert(xc + " " + std::to_string(r.status));
    if (head_header(r.head, "Cache-Status").value_or("").find("collapsed") != std::string::npos) ++collapsed;
    if (r.body.size() == 50000 && r.body == responses[0].body) ++same;
  }
  INFO("other answers: " << (others.empty() ? "" : *others.begin()));
  CHECK(ok == kClients);
  CHECK(miss == kClients);
  CHECK(collapsed == kClients - 1);
  CHECK(same == kClients);

  // The body is the instance's own, byte for byte.
  auto direct = http_get(url(svc.port(), path));
  CHECK(direct.body.size() == 50000);
  CHECK(direct.body == responses[0].body);
  auto m = gw.metrics();
  CHECK(metric(m, zone_metric("gateway_cache_coalesced_total")) == kClients - 1);
  CHECK(metric(m, "gateway_cache_responses_total{zone=\"main\",status=\"MISS\"}") == kClients);
}

// ------------------------------------------------------------------ metrics

TEST_CASE("cache: metrics and status count a MISS and a HIT") {
  TempDir dir;
  SampleService svc(dir);
  Gateway gw(dir, config(dir, svc));
  const auto u = url(gw.port(), "/api/channels/1?cache_control=max-age=300&size=10000");
  REQUIRE(x_cache(fill(gw, u)) == "MISS");
  REQUIRE(x_cache(http_get(u)) == "HIT");
  // Per-route counts are taken once the response is out (as an access log
  // line is), which can be after the client has it.
  std::string m;
  CHECK(eventually([&] {
    m = gw.metrics();
    return metric(m, "gateway_route_cache_total{route=\"/\",status=\"HIT\"}") == 1;
  }));
  INFO(m.substr(m.find("gateway_cache_responses_total")));
  auto series = [](const char* status) {
    return "gateway_cache_responses_total{zone=\"main\",status=\"" + std::string(status) + "\"}";
  };
  CHECK(metric(m, series("HIT")) == 1);
  CHECK(metric(m, series("MISS")) == 1);
  for (const char* s : {"STALE", "REVALIDATED", "BYPASS", "EXPIRED", "UPDATING"}) CHECK(metric(m, series(s)) == 0);
  CHECK(metric(m, "gateway_cache_hit_ratio{zone=\"main\"}").value_or(-1) == doctest::Approx(0.5));
  CHECK(metric(m, "gateway_cache_entries{zone=\"main\"}") == 1);
  CHECK(metric(m, "gateway_cache_stores_total{zone=\"main\"}") == 1);
  CHECK(metric(m, "gateway_cache_evictions_total{zone=\"main\"}") == 0);
  CHECK(metric(m, "gateway_cache_coalesced_total{zone=\"main\"}") == 0);
  auto bytes = metric(m, "gateway_cache_bytes{zone=\"main\"}").value_or(0);
  auto files = entry_files(zone_path(dir));
  REQUIRE(files.size() == 1);
  auto on_disk = fs::file_size(files[0]);
  CHECK(bytes >= static_cast<double>(on_disk));  // charged in 4 KiB blocks
  CHECK(bytes < static_cast<double>(on_disk + 4096));
  CHECK(metric(m, "gateway_route_cache_total{route=\"/\",status=\"HIT\"}") == 1);
  CHECK(metric(m, "gateway_route_cache_total{route=\"/\",status=\"MISS\"}") == 1);

  auto st = gw.status();
  INFO(st);
  auto caches = st.substr(st.find("\"caches\""));
  CHECK(caches.find("\"main\":{") != std::string::npos);
  CHECK(json_int(caches, "entries") == 1);
  CHECK(json_int(caches, "stores") == 1);
  CHECK(json_int(caches, "bytes") == static_cast<std::int64_t>(bytes));
}
