// A zone's request trace and the admin hit-rate report end to end (issue
// 13): a real gateway and sample-service with `trace:` on. N requests give N
// records with the statuses, sizes and route names the exchanges had; a
// small max_size rotates the file to FILE.1; GET /cache/report shows the hit
// ratio per zone and route and the keys missed most.
#include <doctest/doctest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cache/trace_format.hpp"
#include "cache_fixture.hpp"
#include "harness.hpp"
#include "harness_reload.hpp"

using namespace itest;
using namespace itest::cache_test;
namespace gc = gateway::cache;

namespace {

// The request records of a trace file, each with its route's name.
struct Traced {
  gc::TraceRecord record;
  std::string route;
};

std::vector<Traced> read_trace(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() >= gc::kTraceRecordSize);
  REQUIRE(bytes.size() % gc::kTraceRecordSize == 0);
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  REQUIRE(gc::decode_header(p));
  std::map<std::uint16_t, std::string> routes;
  std::vector<Traced> out;
  for (std::size_t at = gc::kTraceRecordSize; at < bytes.size(); at += gc::kTraceRecordSize) {
    auto r = gc::decode_record(p + at);
    if (r.status == gc::kTraceRouteName) {
      routes[r.route] = bytes.substr(at + gc::kTraceRecordSize, r.size);
      at += gc::trace_name_padded(r.size);
      continue;
    }
    REQUIRE(routes.count(r.route) == 1);
    out.push_back({r, routes[r.route]});
  }
  return out;
}

double trace_records(const Gateway& gw) {
  return metric(gw.metrics(), "gateway_cache_trace_records_total{zone=\"main\"}").value_or(-1);
}

std::string report(const Gateway& gw, const std::string& query = "") {
  auto r = http_get(url(gw.admin_port(), "/cache/report" + query));
  REQUIRE(r.status == 200);
  return r.body;
}

// One route "all" caching everything in zone main, with `zone_extra`.
Setup one_route(std::string zone_extra) {
  Setup s;
  s.zone_extra = std::move(zone_extra);
  s.routes = "  - {name: all, prefix: /, upstream: app, cache: {zone: main, ttl: 60s}}\n";
  return s;
}

// CacheStatus (cache/policy.hpp) as the trace stores it.
constexpr std::uint8_t kHit = 0, kMiss = 1, kBypass = 4;

}  // namespace

TEST_CASE("cache trace: N requests give N records with their statuses, sizes and route names") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.zone_extra = ", trace: {path: \"" + dir.file("trace.bin") + "\"}";
  s.routes = "  - {name: one, prefix: /api/channels/1, upstream: app, cache: {zone: main, ttl: 60s}}\n"
             "  - {name: rest, prefix: /api/, upstream: app, cache: {zone: main, ttl: 60s}}\n";
  Gateway gw(dir, config(dir, svc, s));
  const std::string a = "/api/channels/1?cache_control=max-age=60&size=1000";
  const std::string b = "/api/channels/2?cache_control=no-store&size=5000";
  REQUIRE(x_cache(fill(gw, url(gw.port(), a))) == "MISS");
  CHECK(x_cache(http_get(url(gw.port(), a))) == "HIT");
  CHECK(x_cache(http_get(url(gw.port(), a))) == "HIT");
  CHECK(x_cache(http_get(url(gw.port(), b))) == "MISS");
  CHECK(x_cache(post(url(gw.port(), "/api/channels/3"))) == "BYPASS");

  REQUIRE(eventually([&] { return trace_records(gw) == 5; }));
  auto records = read_trace(dir.file("trace.bin"));
  REQUIRE(records.size() == 5);
  std::multiset<std::pair<std::string, int>> seen;
  std::set<std::uint64_t> keys;
  for (const auto& t : records) {
    const auto& r = t.record;
    CHECK(r.time_us > 0);
    keys.insert(r.key);
    if (t.route == "one") {
      CHECK(t.route == "one");
      CHECK(r.body == 1000);
      CHECK(r.size == 4096);  // head and 1000 bytes: one block
      CHECK(r.ttl == 60);
      CHECK(r.flags == (gc::kTraceStorable | gc::kTraceStored));
      seen.insert({"a", r.status});
    } else if (r.body == 5000) {
      CHECK(t.route == "rest");
      CHECK(r.body == 5000);
      CHECK(r.size == 8192);  // the estimate for a response not stored
      CHECK(r.flags == 0);
      seen.insert({"b", r.status});
    } else {
      CHECK(t.route == "rest");
      seen.insert({"post", r.status});
    }
  }
  const std::multiset<std::pair<std::string, int>> expected = {
      {"a", kMiss}, {"a", kHit}, {"a", kHit}, {"b", kMiss}, {"post", kBypass}};
  CHECK(seen == expected);
  CHECK(keys.size() == 3);  // one hash per cache key
  CHECK(metric(gw.metrics(), "gateway_cache_trace_dropped_total{zone=\"main\"}") == 0);
}

TEST_CASE("cache trace: a small max_size rotates the trace to FILE.1, each file with its own route table") {
  TempDir dir;
  SampleService svc(dir);
  Setup s = one_route(", trace: {path: \"" + dir.file("trace.bin") + "\", max_size: 1k, files: 3}");
  Gateway gw(dir, config(dir, svc, s));
  // 1 KiB holds the header, the route name and 29 records.
  for (int i = 0; i < 40; ++i) http_get(url(gw.port(), "/api/channels/" + std::to_string(i % 10) + "?size=10"));
  REQUIRE(eventually([&] { return trace_records(gw) == 40; }));
  auto newest = read_trace(dir.file("trace.bin"));
  auto older = read_trace(dir.file("trace.bin.1"));
  CHECK(older.size() == 29);
  CHECK(newest.size() == 11);
  CHECK(std::filesystem::file_size(dir.file("trace.bin.1")) <= 1024);
  CHECK_FALSE(std::filesystem::exists(dir.file("trace.bin.2")));
  for (const auto& t : newest) CHECK(t.route == "all");
}

TEST_CASE("cache report: hit ratios per zone and route over the last minute, and the top missed keys") {
  TempDir dir;
  SampleService svc(dir);
  Setup s;
  s.routes = "  - {name: hot, prefix: /api/channels/1, upstream: app, cache: {zone: main, ttl: 60s}}\n"
             "  - {name: cold, prefix: /api/, upstream: app, cache: {zone: main, ttl: 60s}}\n";
  Gateway gw(dir, config(dir, svc, s));
  // hot: one miss, four hits. cold: one key never stored (3 misses), one missed once.
  fill(gw, url(gw.port(), "/api/channels/1?size=100"));
  for (int i = 0; i < 4; ++i) CHECK(x_cache(http_get(url(gw.port(), "/api/channels/1?size=100"))) == "HIT");
  for (int i = 0; i < 3; ++i) http_get(url(gw.port(), "/api/channels/2?cache_control=no-store&size=3000"));
  http_get(url(gw.port(), "/api/channels/3?size=10"));

  std::string body;
  REQUIRE(eventually([&] {
    body = report(gw, "?zone=main");
    return body.find("\"requests\":9,") != std::string::npos;
  }));
  INFO(body);
  CHECK(body.find("{\"zones\":{\"main\":{\"last_minute\":{\"requests\":9,\"hits\":4,\"hit_ratio\":0.4444,") == 0);
  CHECK(body.find("\"hot\":{\"last_minute\":{\"requests\":5,\"hits\":4,\"hit_ratio\":0.8000,\"bytes\":500,"
                  "\"hit_bytes\":400,\"byte_hit_ratio\":0.8000}") != std::string::npos);
  CHECK(body.find("\"cold\":{\"last_minute\":{\"requests\":4,\"hits\":0,\"hit_ratio\":0.0000") != std::string::npos);
  // The key missed most comes first, with its real text.
  const auto misses = body.find("\"top_misses\":[{\"key\":");
  REQUIRE(misses != std::string::npos);
  const auto first = body.find("/api/channels/2?cache_control=no-store&size=3000\",\"misses\":3,", misses);
  CHECK(first != std::string::npos);
  CHECK(first < body.find("},{", misses));
  const auto fetched = body.find("\"top_fetched\":[{\"key\":");
  REQUIRE(fetched != std::string::npos);
  CHECK(body.find("/api/channels/2?cache_control=no-store&size=3000\",\"bytes\":9000,", fetched) != std::string::npos);
  CHECK(body.find("\"trace\"") == std::string::npos);  // no trace: on
  // Every zone without the filter; an unknown zone is a 404.
  CHECK(report(gw).find("\"main\":{") != std::string::npos);
  CHECK(http_get(url(gw.admin_port(), "/cache/report?zone=nope")).status == 404);
}

TEST_CASE("cache trace: SIGUSR1 after the trace was moved away starts a new file, with its header and route names") {
  TempDir dir;
  SampleService svc(dir);
  Setup s = one_route(", trace: \"" + dir.file("trace.bin") + "\"");
  Gateway gw(dir, config(dir, svc, s));
  http_get(url(gw.port(), "/api/channels/1?size=10"));
  REQUIRE(eventually([&] { return trace_records(gw) == 1; }));
  std::filesystem::rename(dir.file("trace.bin"), dir.file("moved.bin"));
  gw.process().signal(SIGUSR1);
  // The writer reopens on its own thread: requests until a new file holds
  // one (its header and route name are 96 bytes), then until all are written.
  int sent = 1;
  auto fresh_has_record = [&] {
    std::error_code ec;
    return std::filesystem::file_size(dir.file("trace.bin"), ec) > 96 && !ec;
  };
  REQUIRE(eventually([&] {
    if (!fresh_has_record()) {
      http_get(url(gw.port(), "/api/channels/2?size=10"));
      ++sent;
    }
    return fresh_has_record() && trace_records(gw) == sent;
  }));
  CHECK(read_trace(dir.file("moved.bin")).size() >= 1);
  auto fresh = read_trace(dir.file("trace.bin"));
  REQUIRE_FALSE(fresh.empty());
  CHECK(fresh.front().route == "all");
  CHECK(read_trace(dir.file("moved.bin")).size() + fresh.size() == static_cast<std::size_t>(sent));
}

TEST_CASE("cache trace: a reload starts the trace, and another stops it, the zone and its entries kept") {
  TempDir dir;
  SampleService svc(dir);
  Setup s = one_route("");
  Gateway gw(dir, config(dir, svc, s));
  const auto u = url(gw.port(), "/api/channels/1?size=10");
  fill(gw, u);
  // The fill's exchange over too (the entry is committed a moment before it
  // ends and tells the zone), or the trace started below would see its
  // MISS: gateway_route_cache_total is counted after the exchange told it.
  const std::string fill_counted = "gateway_route_cache_total{route=\"all\",status=\"MISS\"}";
  REQUIRE(eventually([&] { return metric(gw.metrics(), fill_counted) == 1; }));
  CHECK_FALSE(metric(gw.metrics(), "gateway_cache_trace_records_total{zone=\"main\"}"));

  Setup traced = s;
  traced.zone_extra = ", trace: \"" + dir.file("trace.bin") + "\"";
  gw.rewrite_config(config(dir, svc, traced));
  REQUIRE(reload(gw.process()));
  CHECK(x_cache(http_get(u)) == "HIT");  // the zone was kept
  REQUIRE(eventually([&] { return trace_records(gw) == 1; }));
  auto records = read_trace(dir.file("trace.bin"));
  REQUIRE(records.size() == 1);
  CHECK(records[0].record.status == kHit);

  gw.rewrite_config(config(dir, svc, s));
  REQUIRE(reload(gw.process()));
  http_get(u);
  CHECK_FALSE(metric(gw.metrics(), "gateway_cache_trace_records_total{zone=\"main\"}"));
  CHECK(read_trace(dir.file("trace.bin")).size() == 1);  // closed, nothing more
}
