// HTTP/2 clients that misbehave, against the shipped defaults unless a test
// says otherwise: a raw-frame client (harness_h2.hpp) over h2c resets
// streams in a tight loop (rapid reset, CVE-2023-44487), floods CONTINUATION
// frames (CVE-2024-27316), sends a header list over the limit, PINGs in a
// loop, or idles; each gets GOAWAY or a stream error, the gateway's RSS
// stays bounded and another client is served meanwhile. Also the drain on
// SIGTERM: GOAWAY, then the streams in flight finish.
#include <doctest/doctest.h>

#include <signal.h>

#include <atomic>
#include <thread>

#include "harness.hpp"
#include "harness_h2.hpp"
#include "harness_tls.hpp"

using namespace itest;
namespace f = itest::h2frame;

namespace {

std::string goaway_count(const EdgeGateway& gw, const char* reason) {
  auto v = metric(gw.metrics(), std::string("gateway_http2_goaway_total{reason=\"") + reason + "\"}");
  return v ? std::to_string(static_cast<long long>(*v)) : "none";
}

// Another client's h2c requests, in a loop on a thread, until stopped:
// how many were answered 200 and how many were not.
class Bystander {
 public:
  Bystander(const TempDir& dir, std::uint16_t port)
      : thread_([this, &dir, port] {
          while (!stop_) {
            auto r = curl(dir, {"--http2-prior-knowledge"},
                          "http://127.0.0.1:" + std::to_string(port) + "/api/channels/1");
            (r.status == 200 ? ok_ : failed_)++;
          }
        }) {}
  ~Bystander() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
  std::thread thread_;
};

// The attacker got GOAWAY ENHANCE_YOUR_CALM, counted once for `reason`,
// and its connection closed.
void expect_calm_goaway(RawH2& attacker, const EdgeGateway& gw, const char* reason) {
  auto code = attacker.wait_goaway();
  REQUIRE(code.has_value());
  CHECK(*code == h2frame::kEnhanceYourCalm);
  CHECK(attacker.wait_closed());
  CHECK(goaway_count(gw, reason) == "1");
}

// The other client was served throughout, and still is; the gateway's
// RSS grew by less than 64 MiB.
void expect_unaffected(Bystander& other, EdgeGateway& gw, std::int64_t rss_before) {
  REQUIRE(eventually([&] { return other.ok() >= 3; }, 20s));
  other.finish();
  CHECK(other.failed() == 0);
  const auto rss_after = proc_status_kib(gw.process().pid(), "VmRSS:");
  INFO("RSS before " << rss_before << " KiB, after " << rss_after << " KiB");
  CHECK(rss_after - rss_before < 64 * 1024);
}

EdgeGateway make_gateway(const TempDir& dir, const SampleService& svc, const std::string& extra = "") {
  return EdgeGateway(dir, "listen:\n  - {address: \"127.0.0.1:0\", h2c: true}\n",
                     "workers: 1\naccess_log: off\nupstreams:\n  app:\n    instances: [\"" + svc.address() +
                         "\"]\nroutes:\n  - {prefix: /, upstream: app}\n" + extra);
}

// A gateway with the defaults, its RSS now, a bystander client in a loop,
// and an attacker connected.
struct Attack {
  TempDir dir;
  SampleService svc{dir};
  EdgeGateway gw = make_gateway(dir, svc);
  std::int64_t rss_before = proc_status_kib(gw.process().pid(), "VmRSS:");
  Bystander other{dir, gw.port()};
  RawH2 attacker{gw.port()};
};

}  // namespace

TEST_CASE("http2 abuse: rapid reset (HEADERS then RST_STREAM in a loop) gets GOAWAY ENHANCE_YOUR_CALM") {
  Attack a;
  REQUIRE(a.attacker.connected());
  const auto block = f::request_block("/api/channels/1?delay_ms=200", "localhost");
  std::uint32_t stream = 1;
  bool open = true;
  for (int batch = 0; batch < 100 && open; ++batch) {
    std::string burst;
    for (int i = 0; i < 100; ++i, stream += 2)
      burst += f::frame(f::kHeaders, f::kEndStream | f::kEndHeaders, stream, block) + f::rst_stream(stream);
    open = a.attacker.send(burst);
  }
  expect_calm_goaway(a.attacker, a.gw, "rapid_reset");
  expect_unaffected(a.other, a.gw, a.rss_before);
}

TEST_CASE("http2 abuse: a CONTINUATION flood gets GOAWAY ENHANCE_YOUR_CALM after a few frames") {
  Attack a;
  REQUIRE(a.attacker.connected());
  REQUIRE(a.attacker.send(f::frame(f::kHeaders, f::kEndStream, 1, f::request_block("/", "localhost"))));
  // Small CONTINUATIONs, each a field, none ending the block.
  const auto piece = f::frame(f::kContinuation, 0, 1, f::literal("x-pad", std::string(100, 'a')));
  for (int i = 0; i < 10'000; ++i)
    if (!a.attacker.send(piece)) break;
  expect_calm_goaway(a.attacker, a.gw, "continuation_flood");
  expect_unaffected(a.other, a.gw, a.rss_before);
}

TEST_CASE("http2 abuse: a header list over limits.header_bytes is answered 431 on its stream and the connection lives") {
  TempDir dir;
  SampleService svc(dir);
  EdgeGateway gw = make_gateway(dir, svc, "limits: {header_bytes: 8KiB}\n");

  RawH2 client(gw.port());
  REQUIRE(client.connected());
  // 12 KiB of fields, in a HEADERS frame and a CONTINUATION.
  auto block = f::request_block("/api/channels/1", "localhost", {{"x-a", std::string(6000, 'a')}});
  REQUIRE(client.send(f::frame(f::kHeaders, f::kEndStream, 1, block)));
  REQUIRE(client.send(f::frame(f::kContinuation, f::kEndHeaders, 1, f::literal("x-b", std::string(6000, 'b')))));
  // Then a normal request on the same connection.
  REQUIRE(client.send(f::frame(f::kHeaders, f::kEndStream | f::kEndHeaders, 3, f::request_block("/api/channels/1", "localhost"))));
  bool refused = false, served = false;
  while (auto frame = client.read_frame(10s)) {
    if (frame->type == f::kHeaders && frame->stream == 1) refused = frame->payload.find("431") != std::string::npos;
    if (frame->type == f::kRstStream && frame->stream == 1) refused = true;
    if (frame->type == f::kHeaders && frame->stream == 3) served = true;
    if (frame->type == f::kGoaway) break;
    if (refused && served) break;
  }
  CHECK(refused);
  CHECK(served);
  CHECK(metric(gw.metrics(), "gateway_bad_requests_total").value_or(0) == 1);
}

TEST_CASE("http2 abuse: a PING flood gets GOAWAY ENHANCE_YOUR_CALM") {
  TempDir dir;
  SampleService svc(dir);
  EdgeGateway gw = make_gateway(dir, svc);
  RawH2 attacker(gw.port());
  REQUIRE(attacker.connected());
  const auto ping = f::frame(f::kPing, 0, 0, std::string(8, '\x01'));
  std::string burst;
  for (int i = 0; i < 1000; ++i) burst += ping;
  attacker.send(burst);
  expect_calm_goaway(attacker, gw, "control_flood");
}

TEST_CASE("http2 abuse: an idle connection gets GOAWAY NO_ERROR after keepalive, and a silent one after client_header") {
  TempDir dir;
  SampleService svc(dir);
  EdgeGateway gw = make_gateway(dir, svc, "timeouts: {keepalive: 1s, client_header: 1s}\n");
  {
    RawH2 client(gw.port());
    REQUIRE(client.send(f::frame(f::kHeaders, f::kEndStream | f::kEndHeaders, 1, f::request_block("/api/channels/1", "localhost"))));
    auto code = client.wait_goaway(10s);
    REQUIRE(code.has_value());
    CHECK(*code == f::kNoError);
    CHECK(client.wait_closed());
    CHECK(goaway_count(gw, "idle") == "1");
  }
  {
    // A header block begun and never finished.
    RawH2 client(gw.port());
    REQUIRE(client.send(f::frame(f::kHeaders, f::kEndStream, 1, f::request_block("/", "localhost"))));
    CHECK(client.wait_goaway(10s).has_value());
    CHECK(client.wait_closed());
  }
}

TEST_CASE("http2: on SIGTERM a connection gets GOAWAY and its stream in flight still completes") {
  TempDir dir;
  SampleService svc(dir);
  EdgeGateway gw = make_gateway(dir, svc);
  RawH2 client(gw.port());
  REQUIRE(client.send(f::frame(f::kHeaders, f::kEndStream | f::kEndHeaders, 1,
                               f::request_block("/api/channels/1?delay_ms=1500", "localhost"))));
  // The request is at the instance: then the drain starts.
  REQUIRE(eventually([&] { return metric(gw.metrics(), "gateway_http2_streams_total").value_or(0) == 1; }));
  gw.process().signal(SIGTERM);
  bool goaway = false, headers = false, end = false;
  while (auto frame = client.read_frame(10s)) {
    if (frame->type == f::kGoaway) goaway = true;
    if (frame->type == f::kHeaders && frame->stream == 1) headers = true;
    if (frame->type == f::kData && frame->stream == 1 && (frame->flags & f::kEndStream)) end = true;
    if (end) break;
  }
  CHECK(goaway);
  CHECK(headers);
  CHECK(end);
  CHECK(client.wait_closed());
  CHECK(gw.process().wait_exit(10s).has_value());
}
