// Tests for the HTTP/2 keys (gateway/config/server.cpp): a listener's
// `http2` and `h2c`, and the `http2:` block of per-connection limits.
#include "gateway/config.hpp"

#include <doctest/doctest.h>

#include "config_check.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kHttp2Errors[] = {
    {"h2c not a boolean", R"(listen: [{address: "127.0.0.1:8080", h2c: maybe}]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 43, "maybe"},

    {"no streams at all", R"(http2: {max_concurrent_streams: 0}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 33, "out of range"},

    {"a window below the protocol's initial one", R"(http2: {initial_window_bytes: 1KiB}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 31, "initial_window_bytes"},

    {"an unknown key in the http2 block", R"(http2: {max_streams: 10}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 1, 9, "max_streams"},
};

}  // namespace

TEST_CASE("config http2: the defaults: HTTP/2 on TLS listeners, no h2c, nginx/Envoy-like limits") {
  auto config = load_ok(R"(listen: ["127.0.0.1:8080", {address: "127.0.0.1:8081"}]
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)");
  for (const auto& l : config->listen) {
    CHECK(l.http2);
    CHECK_FALSE(l.h2c);
  }
  const auto& h = config->http2;
  CHECK(h.max_concurrent_streams == 128);
  CHECK(h.hpack_table_bytes == 4096);
  CHECK(h.initial_window_bytes == 65535);
  CHECK(h.connection_window_bytes == 1u << 20);
  CHECK(h.max_continuations == 8);
  CHECK(h.reset_burst == 200);
  CHECK(h.reset_rate == 33);
}

TEST_CASE("config http2: listener keys and the http2 block as given") {
  auto config = load_ok(R"(listen:
  - {address: "127.0.0.1:8080", h2c: true}
  - {address: "127.0.0.1:8081", http2: false}
http2:
  max_concurrent_streams: 64
  hpack_table_bytes: 8KiB
  initial_window_bytes: 256KiB
  connection_window_bytes: 4MiB
  max_continuations: 4
  reset_burst: 50
  reset_rate: 5
  control_burst: 20
  control_rate: 2
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)");
  CHECK(config->listen[0].h2c);
  CHECK_FALSE(config->listen[1].h2c);
  CHECK_FALSE(config->listen[1].http2);
  const auto& h = config->http2;
  CHECK(h.max_concurrent_streams == 64);
  CHECK(h.hpack_table_bytes == 8192);
  CHECK(h.initial_window_bytes == 256 * 1024);
  CHECK(h.connection_window_bytes == 4u << 20);
  CHECK(h.max_continuations == 4);
  CHECK(h.reset_burst == 50);
  CHECK(h.reset_rate == 5);
  CHECK(h.control_burst == 20);
  CHECK(h.control_rate == 2);
}

TEST_CASE("config http2: each mistake at the node at fault") { check_errors(kHttp2Errors); }
