// The proxy path end to end, large bodies both ways: a 100 MB response and a
// 100 MB upload, plain and chunked, pass with bounded gateway memory, and an
// upload echoed back streams both ways. Shared helpers are in
// proxy_fixture.hpp.
//
// Each TEST_CASE starts its own sample-service instances and gateway on
// ephemeral loopback ports; the harness stops them on destruction.
#include <doctest/doctest.h>

#include <string>

#include "harness.hpp"
#include "proxy_fixture.hpp"

using namespace itest;
using namespace itest::proxy_test;

// ------------------------------------------------------------------ large bodies

TEST_CASE("a 100 MB response and a 100 MB chunked upload pass with bounded gateway memory") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 2\naccess_log: off\nlimits: {body_bytes: 1GiB}\nupstreams:\n" + upstream_yaml("app", {&a}) +
                      route_all());
  REQUIRE(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  const auto start_kib = gw.rss_kib();
  REQUIRE(start_kib > 0);
  constexpr std::uint64_t k100MB = 100ull * 1024 * 1024;
  constexpr std::int64_t kBoundKib = 64 * 1024;

  auto down = stream_exchange(url(gw.port(), "/api/channels/1?size=" + std::to_string(k100MB)), 0, false, false);
  INFO("download: " << down.error);
  CHECK(down.status == 200);
  CHECK(down.received == k100MB);
  CHECK(down.header("Content-Length") == std::to_string(k100MB));

  auto chunked_down =
      stream_exchange(url(gw.port(), "/api/channels/1?chunked=1&size=" + std::to_string(k100MB)), 0, false, false);
  CHECK(chunked_down.status == 200);
  CHECK(chunked_down.received == k100MB);

  // Upload to an instance that counts the body and answers at its end.
  auto counted = stream_exchange(url(gw.port(), "/echo"), k100MB, true, false);
  INFO("upload: " << counted.error);
  CHECK(counted.status == 200);
  CHECK(json_int(a.stats_json(), "bytes_in").value_or(0) >= static_cast<std::int64_t>(k100MB));
  // And with Content-Length.
  auto sized = stream_exchange(url(gw.port(), "/echo"), k100MB, false, false);
  CHECK(sized.status == 200);
  CHECK(json_int(a.stats_json(), "bytes_in").value_or(0) >= static_cast<std::int64_t>(2 * k100MB));

  auto peak = gw.peak_rss_kib();
  INFO("rss at start " << start_kib << " KiB, peak " << peak << " KiB");
  CHECK(peak - start_kib < kBoundKib);
}

TEST_CASE("a 100 MB upload echoed back while it arrives streams both ways") {
  TempDir dir;
  SampleService a(dir, "a");
  Gateway gw(dir, "workers: 1\naccess_log: off\nlimits: {body_bytes: 1GiB}\n"
                  "timeouts: {upstream_send: 3s, upstream_read: 3s}\nupstreams:\n" +
                      upstream_yaml("app", {&a}) + route_all());
  REQUIRE(http_get(url(gw.port(), "/api/channels/1")).status == 200);
  const auto start_kib = gw.rss_kib();
  constexpr std::uint64_t k100MB = 100ull * 1024 * 1024;
  auto up = stream_exchange(url(gw.port(), "/echo?echo_body=1"), k100MB, true, true, 15s);
  INFO("upload: " << up.error);
  CHECK(up.status == 200);
  CHECK(up.received == k100MB);
  CHECK(up.echo_matches);
  CHECK(gw.peak_rss_kib() - start_kib < 64 * 1024);
}
