// The PROXY protocol end to end (issue 11 item 5): a listener with
// `proxy_protocol: true` takes the client's address from a v1 or v2 header
// sent first, before the TLS handshake on a TLS listener; the instance sees
// it in X-Forwarded-For and the access log names it. A connection without
// a valid header is closed, logged with the reason and counted.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "harness.hpp"
#include "harness_tls.hpp"

using namespace itest;

namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s.push_back(static_cast<char>(v));
  return s;
}

// v2, PROXY command, TCP over IPv4: 198.51.100.20:40000 -> 127.0.0.1:443,
// with a NOOP TLV after the addresses.
std::string v2_header() {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  std::string body = bytes({198, 51, 100, 20, 127, 0, 0, 1, 0x9c, 0x40, 0x01, 0xbb, 0x04, 0x00, 0x02, 'h', 'i'});
  h += bytes({0x21, 0x11, 0, static_cast<int>(body.size())});
  return h + body;
}

std::string v2_local() {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  return h + bytes({0x20, 0x00, 0, 0});
}

struct Setup {
  TempDir dir;
  TestPki pki{dir};
  TestPki::Files site = pki.issue("site", {"localhost"});
  CaptureServer up;
  // Listener 0: plain with PROXY; 1: TLS with PROXY; 2: plain without.
  EdgeGateway gw{dir,
                 "listen:\n  - {address: \"127.0.0.1:0\", proxy_protocol: true}\n"
                 "  - address: \"127.0.0.1:0\"\n    proxy_protocol: true\n    tls: {certificates: [{cert: \"" +
                     site.cert + "\", key: \"" + site.key + "\"}]}\n  - \"127.0.0.1:0\"\n",
                 "workers: 1\nupstreams:\n  app: {instances: [\"" + up.address() + "\"]}\nroutes:\n"
                 "  - {prefix: /, upstream: app}\n"};
};

std::string request(std::string_view path) {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

// The X-Forwarded-For the instance got with the request for `path`.
std::optional<std::string> forwarded_for(const CaptureServer& up, std::string_view path) {
  for (const auto& head : up.requests())
    if (head.starts_with("GET " + std::string(path) + " ")) return head_header(head, "X-Forwarded-For");
  return std::nullopt;
}

bool logged(const EdgeGateway& gw, std::string_view client, std::string_view path) {
  return gw.access_log().find(std::string(client) + " - - ") != std::string::npos &&
         gw.access_log().find("GET " + std::string(path) + " HTTP/1.1") != std::string::npos;
}

}  // namespace

TEST_CASE("PROXY protocol v1 and v2 on a plain listener: the header's source is the client") {
  Setup s;
  {
    RawConnection c(s.gw.port(0));
    REQUIRE(c.send("PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\r\n" + request("/v1")));
    auto answers = parse_responses(c.read_until_close());
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 200);
  }
  {
    // The header and the request in separate writes, the header itself cut in two.
    RawConnection c(s.gw.port(0));
    auto header = v2_header();
    REQUIRE(c.send(header.substr(0, 10)));
    CHECK(c.read_some(Ms(100)).empty());  // the gateway waits for the rest
    REQUIRE(c.send(header.substr(10)));
    REQUIRE(c.send(request("/v2")));
    auto answers = parse_responses(c.read_until_close());
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].status == 200);
  }
  {
    RawConnection c(s.gw.port(0));
    REQUIRE(c.send("PROXY TCP6 2001:db8::7 ::1 4711 80\r\n" + request("/v1-tcp6")));
    CHECK(parse_responses(c.read_until_close()).size() == 1);
  }
  {
    // LOCAL (a balancer's health check): the connection's own address.
    RawConnection c(s.gw.port(0));
    REQUIRE(c.send(v2_local() + request("/local")));
    CHECK(parse_responses(c.read_until_close()).size() == 1);
  }
  CHECK(forwarded_for(s.up, "/v1") == "203.0.113.7");
  CHECK(forwarded_for(s.up, "/v2") == "198.51.100.20");
  CHECK(forwarded_for(s.up, "/v1-tcp6") == "2001:db8::7");
  CHECK(forwarded_for(s.up, "/local") == "127.0.0.1");
  CHECK(eventually([&] { return logged(s.gw, "203.0.113.7", "/v1") && logged(s.gw, "198.51.100.20", "/v2"); }));
  CHECK(metric(s.gw.metrics(), "gateway_proxy_protocol_rejected_total") == 0);
}

TEST_CASE("PROXY protocol on a TLS listener: the header comes before the handshake") {
  Setup s;
  for (const auto& [header, client, path] :
       {std::tuple{std::string("PROXY TCP4 203.0.113.8 127.0.0.1 4711 443\r\n"), "203.0.113.8", "/tls-v1"},
        std::tuple{v2_header(), "198.51.100.20", "/tls-v2"}}) {
    CAPTURE(path);
    TlsClient::Options options;
    options.server_name = "localhost";
    options.ca = s.pki.ca();
    TlsClient c(s.gw.port(1), options, header);
    REQUIRE_MESSAGE(c.connected(), c.error());
    CHECK(c.get(path).status == 200);
    CHECK(forwarded_for(s.up, path) == client);
    CHECK(eventually([&] { return logged(s.gw, client, path); }));
  }
  // Without the header, the TLS ClientHello is no PROXY header: refused.
  TlsClient::Options bare;
  bare.server_name = "localhost";
  TlsClient c(s.gw.port(1), bare);
  CHECK_FALSE(c.connected());
  CHECK(eventually([&] { return metric(s.gw.metrics(), "gateway_proxy_protocol_rejected_total") == 1; }));
}

TEST_CASE("PROXY protocol: a missing, malformed or oversized header closes the connection, logged and counted") {
  Setup s;
  const std::string bad[] = {
      request("/no-header"),                                            // a client talking to the wrong port
      "PROXY TCP4 203.0.113.7 127.0.0.1 4711\r\n" + request("/short"),  // a field missing
      "PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\n" + request("/lf"),    // LF alone
      "PROXY UNKNOWN " + std::string(120, 'x') + "\r\n",                // longer than 107 bytes
      std::string("\r\n\r\n\0\r\nQUIT\n", 12) + bytes({0x21, 0x11, 0x20, 0x00}),  // 8192 bytes announced
  };
  for (const auto& bytes : bad) {
    CAPTURE(bytes);
    RawConnection c(s.gw.port(0));
    REQUIRE(c.send(bytes));
    CHECK(c.read_until_close() == "");  // closed without an answer
  }
  CHECK(s.up.requests().empty());
  CHECK(eventually([&] { return metric(s.gw.metrics(), "gateway_proxy_protocol_rejected_total") == 5; }));
  auto log = s.gw.error_log();
  CHECK(log.find("PROXY protocol header refused from 127.0.0.1: no PROXY protocol header") != std::string::npos);
  CHECK(log.find("v1 header: expected 4 fields after TCP4") != std::string::npos);
  CHECK(log.find("v1 header: LF without CR") != std::string::npos);
  CHECK(log.find("v1 header longer than 107 bytes") != std::string::npos);
  CHECK(log.find("8192 bytes of addresses and TLVs") != std::string::npos);

  // The listener without proxy_protocol takes no header: a PROXY line is a bad request there.
  RawConnection plain(s.gw.port(2));
  REQUIRE(plain.send("PROXY TCP4 203.0.113.7 127.0.0.1 4711 80\r\n" + request("/x")));
  auto answers = parse_responses(plain.read_until_close());
  REQUIRE(answers.size() == 1);
  CHECK(answers[0].status == 400);
}

TEST_CASE("PROXY protocol: a client that sends nothing is dropped after client_header") {
  TempDir dir;
  CaptureServer up;
  EdgeGateway gw(dir, "listen:\n  - {address: \"127.0.0.1:0\", proxy_protocol: true}\n",
                 "workers: 1\ntimeouts: {client_header: 300ms}\nupstreams:\n  app: {instances: [\"" +
                     up.address() + "\"]}\nroutes:\n  - {prefix: /, upstream: app}\n");
  RawConnection idle(gw.port());
  REQUIRE(idle.send("PROXY TCP4 203.0.113.7"));  // and no more
  CHECK(idle.closed_by_peer(5s));
  CHECK(eventually([&] { return metric(gw.metrics(), "gateway_proxy_protocol_rejected_total") == 1; }));
  CHECK(gw.error_log().find("not received within client_header") != std::string::npos);
}

TEST_CASE("PROXY protocol with trusted_proxies: a trusted balancer's source lets X-Forwarded-For name the client") {
  TempDir dir;
  CaptureServer up;
  EdgeGateway gw(dir, "listen:\n  - {address: \"127.0.0.1:0\", proxy_protocol: true}\n",
                 "workers: 1\ntrusted_proxies: [10.0.0.0/8]\nupstreams:\n  app: {instances: [\"" + up.address() +
                     "\"]}\nroutes:\n  - prefix: /\n    upstream: app\n"
                     "    headers: {request: {set: {X-Real-IP: $remote_addr}}}\n");
  // A CDN hop (10.1.1.1, trusted) behind a balancer 10.0.0.9 speaking PROXY.
  RawConnection c(gw.port());
  REQUIRE(c.send("PROXY TCP4 10.0.0.9 127.0.0.1 4711 80\r\nGET /chain HTTP/1.1\r\nHost: localhost\r\n"
                 "X-Forwarded-For: 203.0.113.50, 10.1.1.1\r\nConnection: close\r\n\r\n"));
  REQUIRE(parse_responses(c.read_until_close()).size() == 1);
  auto reqs = up.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(head_header(reqs[0], "X-Forwarded-For") == "203.0.113.50, 10.1.1.1, 10.0.0.9");
  CHECK(head_header(reqs[0], "X-Real-IP") == "203.0.113.50");
  CHECK(eventually([&] { return logged(gw, "203.0.113.50", "/chain"); }));
}
