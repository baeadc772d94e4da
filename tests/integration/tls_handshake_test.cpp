// The cost side of TLS on listeners: how many session tickets a handshake
// sends (one by default, `tickets_per_handshake` for more), that one is
// enough to resume again and again (each resumption brings a new one, on
// any worker), that a client offering a single suite or group still
// connects, and that requests arriving in pieces or in large records are
// read whole (OpenSSL reads through the stream's own receive buffer).
#include <doctest/doctest.h>

#include <openssl/ssl.h>

#include "harness.hpp"
#include "harness_tls.hpp"

using namespace itest;

namespace {

constexpr std::string_view kGetClose = "GET /api/channels/1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

std::string tls_listener(const TestPki::Files& cert, const std::string& more = "") {
  return "listen:\n  - address: \"127.0.0.1:0\"\n    tls:\n      certificates:\n        - {cert: \"" + cert.cert +
         "\", key: \"" + cert.key + "\"}\n" + more;
}

std::string app_yaml(const SampleService& svc, const std::string& workers = "1") {
  return "workers: " + workers + "\nupstreams:\n  app:\n    instances: [\"" + svc.address() +
         "\"]\nroutes:\n  - {prefix: /, upstream: app}\n";
}

// NewSessionTicket messages in `s_client -msg` output.
int tickets_in(const std::string& output) {
  int n = 0;
  for (std::size_t at = 0; (at = output.find(", NewSessionTicket", at)) != std::string::npos; ++at) ++n;
  return n;
}

}  // namespace

TEST_CASE("tls handshake: one session ticket per TLS 1.3 handshake by default, tickets_per_handshake: 2 sends two") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"site.test"});
  SampleService svc(dir);
  EdgeGateway one(dir, tls_listener(cert), app_yaml(svc), "one");
  EdgeGateway two(dir, tls_listener(cert, "      tickets_per_handshake: 2\n"), app_yaml(svc), "two");

  auto a = s_client(dir, one.port(), "site.test", {"-tls1_3", "-msg"}, kGetClose);
  INFO(a.output);
  CHECK(a.output.find("HTTP/1.1 200 OK") != std::string::npos);
  CHECK(tickets_in(a.output) == 1);
  auto b = s_client(dir, two.port(), "site.test", {"-tls1_3", "-msg"}, kGetClose);
  INFO(b.output);
  CHECK(b.output.find("HTTP/1.1 200 OK") != std::string::npos);
  CHECK(tickets_in(b.output) == 2);
}

TEST_CASE("tls handshake: with one ticket a client resumes again and again, each time with the new one, on any worker") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"site.test"});
  SampleService svc(dir);
  EdgeGateway gw(dir, tls_listener(cert), app_yaml(svc, "2"));

  TlsClient first(gw.port(), {"site.test", pki.ca()});
  REQUIRE(first.connected());
  CHECK(first.get("/api/channels/1").status == 200);
  auto session = first.session();
  REQUIRE(session);
  constexpr int kChain = 8;  // SO_REUSEPORT spreads them over both workers
  int resumed = 0;
  for (int i = 0; i < kChain; ++i) {
    TlsClient c(gw.port(), {"site.test", pki.ca(), session.get()});
    REQUIRE(c.connected());
    resumed += c.resumed();
    CHECK(c.get("/api/channels/2").status == 200);  // the new ticket comes with it
    auto next = c.session();
    REQUIRE(next);
    CHECK(next.get() != session.get());
    session = std::move(next);
  }
  CHECK(resumed == kChain);
}

TEST_CASE("tls handshake: a client offering a single TLS 1.3 suite, a single group or a single TLS 1.2 cipher connects") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"site.test"});
  SampleService svc(dir);
  EdgeGateway gw(dir, tls_listener(cert), app_yaml(svc));

  const std::vector<std::vector<std::string>> offers = {
      {"-tls1_3", "-ciphersuites", "TLS_AES_128_GCM_SHA256"},
      {"-tls1_3", "-ciphersuites", "TLS_CHACHA20_POLY1305_SHA256"},
      {"-tls1_3", "-groups", "P-256"},
      {"-tls1_3", "-groups", "X25519"},
      {"-tls1_3", "-groups", "P-384"},
      {"-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"},
      {"-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"},
  };
  for (const auto& offer : offers) {
    std::string name;
    for (const auto& a : offer) name += a + " ";
    CAPTURE(name);
    auto r = s_client(dir, gw.port(), "site.test", offer, kGetClose);
    INFO(r.output);
    CHECK(r.output.find("HTTP/1.1 200 OK") != std::string::npos);
  }
}

TEST_CASE("tls handshake: a request sent a byte at a time, and a body in full 16 KiB records, are read whole") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"site.test"});
  SampleService svc(dir);
  EdgeGateway gw(dir, tls_listener(cert), app_yaml(svc));

  TlsClient c(gw.port(), {"site.test", pki.ca()});
  REQUIRE(c.connected());
  const std::string head = "GET /api/channels/1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
  for (char ch : head) REQUIRE(c.send(std::string_view(&ch, 1)));  // one record each
  auto r = c.read_responses(1);
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == 200);

  // 200 KiB of body in one send: OpenSSL cuts it into full records.
  const std::string body(200 * 1024, 'x');
  REQUIRE(c.send("POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: " + std::to_string(body.size()) +
                 "\r\n\r\n" + body));
  r = c.read_responses(1);
  REQUIRE(r.size() == 1);
  CHECK(r[0].status == 200);
  // The sample service's /echo says how many body bytes it received.
  CHECK(r[0].body.find("\"body_bytes\":" + std::to_string(body.size())) != std::string::npos);
  // The connection still serves the next request.
  CHECK(c.get("/api/channels/1").status == 200);
}
