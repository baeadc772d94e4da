// TLS to upstreams, end to end: the instance is a real TLS server (a
// second gateway with a TLS listener in front of a sample-service, or
// `openssl s_server` asking for a client certificate); verification
// against the right and a wrong CA and name, pooled connections, session
// resumption on new connections, client certificates and health checks.
#include <doctest/doctest.h>

#include "harness.hpp"
#include "harness_tls.hpp"

using namespace itest;

namespace {

double metric_or_zero(const std::string& text, const std::string& series) { return metric(text, series).value_or(0); }

// A TLS server for `upstream.test` in front of a sample-service: counts
// its handshakes in its own /metrics.
struct TlsUpstream {
  TlsUpstream(const TempDir& dir, const TestPki::Files& cert)
      : svc(dir, "tls-backend"),
        gw(dir,
           "listen:\n  - address: \"127.0.0.1:0\"\n    tls:\n      certificates:\n        - {cert: \"" + cert.cert +
               "\", key: \"" + cert.key + "\"}\n",
           "workers: 1\nupstreams: {app: {instances: [\"" + svc.address() +
               "\"]}}\nroutes: [{prefix: /, upstream: app}]\n",
           "backend") {}
  std::string address() const { return "127.0.0.1:" + std::to_string(gw.port()); }
  double handshakes() const {
    return metric_or_zero(gw.metrics(),
                          "gateway_tls_handshakes_total{listener=\"" + address() + "\",result=\"ok\"}");
  }
  double resumed() const {
    return metric_or_zero(gw.metrics(), "gateway_tls_resumed_total{listener=\"" + address() + "\"}");
  }
  SampleService svc;
  EdgeGateway gw;
};

}  // namespace

TEST_CASE("upstream tls: verified against the right CA and name it is 200, a wrong CA or name is a 502 saying why") {
  TempDir dir;
  TestPki pki(dir);
  TestPki other(dir, "other-");
  TlsUpstream upstream(dir, pki.issue("upstream", {"upstream.test"}));
  auto group = [&](const std::string& name, const std::string& tls) {
    return "  " + name + ":\n    instances: [\"" + upstream.address() + "\"]\n    tls: " + tls + "\n";
  };
  Gateway gw(dir, "workers: 1\nupstreams:\n" + group("good", "{ca: \"" + pki.ca() + "\", sni: upstream.test}") +
                      group("wrong_ca", "{ca: \"" + other.ca() + "\", sni: upstream.test}") +
                      group("wrong_name", "{ca: \"" + pki.ca() + "\", sni: elsewhere.test}") +
                      group("unchecked", "{verify: false}") +
                      "routes:\n"
                      "  - {prefix: /good/, upstream: good, strip_prefix: true}\n"
                      "  - {prefix: /wrong_ca/, upstream: wrong_ca, strip_prefix: true}\n"
                      "  - {prefix: /wrong_name/, upstream: wrong_name, strip_prefix: true}\n"
                      "  - {prefix: /unchecked/, upstream: unchecked, strip_prefix: true}\n");

  auto good = http_get(url(gw.port(), "/good/api/channels/5"));
  CHECK(good.status == 200);
  CHECK(good.body.find("\"id\":\"5\"") != std::string::npos);
  CHECK(http_get(url(gw.port(), "/unchecked/api/channels/5")).status == 200);

  auto wrong_ca = http_get(url(gw.port(), "/wrong_ca/api/channels/5"));
  CHECK(wrong_ca.status == 502);
  auto wrong_name = http_get(url(gw.port(), "/wrong_name/api/channels/5"));
  CHECK(wrong_name.status == 502);
  auto log = gw.error_log();
  INFO(log);
  CHECK(log.find("upstream=wrong_ca instance=" + upstream.address() +
                 ": connect failed (certificate verify failed: unable to get local issuer certificate)") !=
        std::string::npos);
  CHECK(log.find("upstream=wrong_name instance=" + upstream.address() +
                 ": connect failed (certificate verify failed: hostname mismatch)") != std::string::npos);
  // The instance completed the two verified handshakes only.
  CHECK(upstream.handshakes() == 2);
}

TEST_CASE("upstream tls: connections are pooled, and a new connection resumes the instance's last session") {
  TempDir dir;
  TestPki pki(dir);
  TlsUpstream upstream(dir, pki.issue("upstream", {"upstream.test"}));
  const std::string tls = "    tls: {ca: \"" + pki.ca() + "\", sni: upstream.test}\n";
  Gateway gw(dir, "workers: 1\nupstreams:\n"
                  "  pooled:\n    instances: [\"" + upstream.address() + "\"]\n" + tls +
                  "  fresh:\n    instances: [\"" + upstream.address() + "\"]\n    keepalive: 0\n" + tls +
                  "routes:\n"
                  "  - {prefix: /pooled/, upstream: pooled, strip_prefix: true}\n"
                  "  - {prefix: /fresh/, upstream: fresh, strip_prefix: true}\n");

  constexpr int kRequests = 20;
  Client client;  // one client connection: the requests go one after another
  for (int i = 0; i < kRequests; ++i) CHECK(client.get(url(gw.port(), "/pooled/api/channels/1")).status == 200);
  CHECK(upstream.handshakes() == 1);  // one TLS connection, kept alive, for 20 requests
  auto m = gw.metrics();
  CHECK(metric_or_zero(m, "gateway_upstream_tls_handshakes_total{upstream=\"pooled\"}") == 1);
  CHECK(metric_or_zero(m, "gateway_upstream_connections_reused_total{upstream=\"pooled\"}") == kRequests - 1);

  // Without keep-alive every request opens a connection: all but the first
  // resume the session the instance gave before.
  constexpr int kFresh = 6;
  for (int i = 0; i < kFresh; ++i) CHECK(client.get(url(gw.port(), "/fresh/api/channels/1")).status == 200);
  CHECK(upstream.handshakes() == 1 + kFresh);
  CHECK(upstream.resumed() >= kFresh - 1);
  m = gw.metrics();
  CHECK(metric_or_zero(m, "gateway_upstream_tls_handshakes_total{upstream=\"fresh\"}") == kFresh);
  CHECK(metric_or_zero(m, "gateway_upstream_tls_resumed_total{upstream=\"fresh\"}") >= kFresh - 1);
}

TEST_CASE("upstream tls: health checks go over TLS with the group's CA and name") {
  TempDir dir;
  TestPki pki(dir);
  TlsUpstream upstream(dir, pki.issue("upstream", {"upstream.test"}));
  Gateway gw(dir, "workers: 1\nupstreams:\n  app:\n    instances: [\"" + upstream.address() +
                      "\"]\n    tls: {ca: \"" + pki.ca() +
                      "\", sni: upstream.test}\n    health: {path: /health, interval: 100ms, fails: 1}\n"
                      "routes: [{prefix: /, upstream: app}]\n");
  // Probes reach the instance's /health through its TLS listener...
  REQUIRE(eventually([&] { return count_of(upstream.gw.access_log(), "\"GET /health HTTP/1.1\" 200") >= 3; }));
  // ... and leave it up.
  CHECK(instance_state(gw.status(), upstream.address()) == "up");
  CHECK(http_get(url(gw.port(), "/api/channels/1")).status == 200);
}

TEST_CASE("upstream tls: a client certificate is presented to an instance that requires one") {
  TempDir dir;
  TestPki pki(dir);
  auto server = pki.issue("server", {"upstream.test"});
  auto client_cert = pki.issue("client", {"gateway.test"});
  // openssl s_server -www answers any GET with a status page, and closes.
  std::uint16_t port = free_port();
  Process s_server({"/usr/bin/openssl", "s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert",
                    server.cert, "-key", server.key, "-Verify", "1", "-CAfile", pki.ca(), "-www", "-naccept", "100"},
                   dir.file("s_server.out"), dir.file("s_server.err"));
  REQUIRE(eventually([&] { return can_connect(port); }));
  const std::string base = "    instances: [\"127.0.0.1:" + std::to_string(port) + "\"]\n";
  Gateway gw(dir, "workers: 1\nupstreams:\n"
                  "  with_cert:\n" + base + "    tls:\n      ca: \"" + pki.ca() + "\"\n      sni: upstream.test\n" +
                  "      client_cert: {cert: \"" + client_cert.cert + "\", key: \"" + client_cert.key + "\"}\n"
                  "  without:\n" + base + "    tls: {ca: \"" + pki.ca() + "\", sni: upstream.test}\n"
                  "routes:\n"
                  "  - {prefix: /with/, upstream: with_cert, strip_prefix: true}\n"
                  "  - {prefix: /without/, upstream: without, strip_prefix: true}\n");
  auto with = http_get(url(gw.port(), "/with/"));
  INFO(s_server.out());
  CHECK(with.status == 200);
  CHECK(with.body.find("s_server") != std::string::npos);
  CHECK(http_get(url(gw.port(), "/without/")).status == 502);
}
