// TLS on listeners, end to end: real `openssl s_client` and curl against a
// gateway with certificates made at test time (harness_tls.hpp): SNI,
// protocols, session resumption across connections and workers, reloads
// with new certificates, the handshake's deadline, metrics and the access
// log, and `--check` on bad files. TLS to upstreams is in
// upstream_tls_test.cpp.
#include <doctest/doctest.h>

#include <openssl/ssl.h>
#include <signal.h>

#include "harness.hpp"
#include "harness_tls.hpp"

using namespace itest;

namespace {

constexpr std::string_view kGetClose = "GET /api/channels/1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

// A TLS listen entry with these certificates (the first is the default)
// and `more` lines in its tls block.
std::string tls_entry(const std::vector<TestPki::Files>& certs, const std::string& more = "") {
  std::string y = "  - address: \"127.0.0.1:0\"\n    tls:\n      certificates:\n";
  for (const auto& c : certs) y += "        - {cert: \"" + c.cert + "\", key: \"" + c.key + "\"}\n";
  return y + more;
}

std::string app_yaml(const SampleService& svc, const std::string& extra = "") {
  return "upstreams:\n  app:\n    instances: [\"" + svc.address() + "\"]\nroutes:\n  - {prefix: /, upstream: app}\n" +
         extra;
}

double metric_or_zero(const std::string& text, const std::string& series) { return metric(text, series).value_or(0); }

std::string listener_label(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

}  // namespace

TEST_CASE("tls: SNI picks the certificate with the exact name, else a wildcard for it, else the first") {
  TempDir dir;
  TestPki pki(dir);
  auto fallback = pki.issue("default", {"default.test"});
  auto exact = pki.issue("exact", {"a.example.com"});
  auto wildcard = pki.issue("wildcard", {"*.example.com"});
  SampleService svc(dir);
  EdgeGateway gw(dir, "listen:\n" + tls_entry({fallback, exact, wildcard}), "workers: 1\n" + app_yaml(svc));

  struct Case {
    const char* server_name;
    const char* certificate;
  };
  const Case cases[] = {
      {"a.example.com", "a.example.com"},  {"b.example.com", "*.example.com"}, {"x.b.example.com", "default.test"},
      {"other.test", "default.test"},      {"", "default.test"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.server_name));
    auto r = s_client(dir, gw.port(), c.server_name, {"-CAfile", pki.ca()}, kGetClose);
    INFO(r.output);
    CHECK(s_client_subject_cn(r.output) == c.certificate);
    CHECK(r.output.find("Verify return code: 0 (ok)") != std::string::npos);
    CHECK(r.output.find("HTTP/1.1 200 OK") != std::string::npos);
  }
  // curl checks the name against the certificate it gets for it.
  for (const char* name : {"a.example.com", "www.example.com", "default.test"}) {
    CAPTURE(std::string(name));
    auto resp = curl_https(dir, gw.port(), name, "/api/channels/7", pki.ca());
    INFO(resp.body);
    CHECK(resp.status == 200);
    CHECK(resp.body.find("\"id\":\"7\"") != std::string::npos);
  }
}

TEST_CASE("tls: TLS 1.2 and 1.3 both negotiate, and a listener limited to TLS 1.3 refuses TLS 1.2") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"site.test"});
  SampleService svc(dir);
  EdgeGateway gw(dir, "listen:\n" + tls_entry({cert}) + tls_entry({cert}, "      protocols: [TLSv1.3]\n"),
                 "workers: 1\n" + app_yaml(svc));

  for (const char* version : {"TLSv1.2", "TLSv1.3"}) {
    CAPTURE(std::string(version));
    auto r = s_client(dir, gw.port(0), "site.test", {version == std::string("TLSv1.2") ? "-tls1_2" : "-tls1_3"},
                      kGetClose);
    INFO(r.output);
    CHECK(s_client_protocol(r.output) == version);
    CHECK(r.output.find("HTTP/1.1 200 OK") != std::string::npos);
  }
  auto refused = s_client(dir, gw.port(1), "site.test", {"-tls1_2"}, kGetClose);
  INFO(refused.output);
  CHECK(refused.exit_code != 0);
  CHECK(s_client_protocol(refused.output) == "");
  CHECK(refused.output.find("HTTP/1.1 200") == std::string::npos);
  CHECK(s_client_protocol(s_client(dir, gw.port(1), "site.test", {}, kGetClose).output) == "TLSv1.3");

  auto m = gw.metrics();
  CHECK(metric_or_zero(m, "gateway_tls_versions_total{listener=\"" + listener_label(gw.port(0)) +
                              "\",version=\"TLSv1.2\"}") == 1);
  CHECK(metric_or_zero(m, "gateway_tls_handshakes_total{listener=\"" + listener_label(gw.port(1)) +
                              "\",result=\"failed\"}") == 1);
}

TEST_CASE("tls: a session saved by s_client resumes, with tickets and without (the session cache)") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"site.test"});
  SampleService svc(dir);
  EdgeGateway gw(dir, "listen:\n" + tls_entry({cert}) + tls_entry({cert}, "      session_tickets: false\n"),
                 "workers: 1\n" + app_yaml(svc));

  struct Case {
    const char* name;
    std::size_t listener;
    const char* version;
  };
  const Case cases[] = {{"tickets, TLS 1.3", 0, "-tls1_3"},
                        {"tickets, TLS 1.2", 0, "-tls1_2"},
                        {"session cache, TLS 1.3", 1, "-tls1_3"},
                        {"session cache, TLS 1.2", 1, "-tls1_2"}};
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    auto session = dir.file(std::string("session-") + std::to_string(c.listener) + c.version);
    auto first = s_client(dir, gw.port(c.listener), "site.test", {c.version, "-sess_out", session}, kGetClose);
    INFO(first.output);
    CHECK_FALSE(s_client_reused(first.output));
    auto second = s_client(dir, gw.port(c.listener), "site.test", {c.version, "-sess_in", session}, kGetClose);
    INFO(second.output);
    CHECK(s_client_reused(second.output));
    CHECK(second.output.find("HTTP/1.1 200 OK") != std::string::npos);
  }
  auto m = gw.metrics();
  CHECK(metric_or_zero(m, "gateway_tls_resumed_total{listener=\"" + listener_label(gw.port(0)) + "\"}") == 2);
  CHECK(metric_or_zero(m, "gateway_tls_resumed_total{listener=\"" + listener_label(gw.port(1)) + "\"}") == 2);
}

TEST_CASE("tls: a ticket from one connection resumes on every worker (workers: 2)") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"site.test"});
  SampleService svc(dir);
  EdgeGateway gw(dir, "listen:\n" + tls_entry({cert}), "workers: 2\n" + app_yaml(svc));

  TlsClient first(gw.port(), {"site.test", pki.ca()});
  REQUIRE(first.connected());
  CHECK(first.get("/api/channels/1").status == 200);  // the ticket comes with it
  auto session = first.session();
  REQUIRE(session);
  // SO_REUSEPORT spreads these over both workers' acceptors.
  constexpr int kConnections = 12;
  int resumed = 0;
  for (int i = 0; i < kConnections; ++i) {
    TlsClient c(gw.port(), {"site.test", pki.ca(), session.get()});
    REQUIRE(c.connected());
    resumed += c.resumed();
    CHECK(c.get("/api/channels/2").status == 200);
  }
  CHECK(resumed == kConnections);
  CHECK(metric_or_zero(gw.metrics(), "gateway_tls_resumed_total{listener=\"" + listener_label(gw.port()) + "\"}") ==
        kConnections);
}

TEST_CASE("tls: plain and TLS listeners side by side, X-Forwarded-Proto and the access log say which") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"site.test"});
  CaptureServer upstream;
  EdgeGateway gw(dir, "listen:\n  - \"127.0.0.1:0\"\n" + tls_entry({cert}),
                 "workers: 1\nupstreams: {app: {instances: [\"" + upstream.address() +
                     "\"]}}\nroutes: [{prefix: /, upstream: app}]\n");
  CHECK(http_get(url(gw.port(0), "/plain")).status == 200);
  auto resp = curl_https(dir, gw.port(1), "site.test", "/secure", pki.ca());
  INFO(resp.body);
  CHECK(resp.status == 200);
  CHECK(resp.body == "ok");

  auto requests = upstream.requests();
  REQUIRE(requests.size() == 2);
  CHECK(head_header(requests[0], "X-Forwarded-Proto") == "http");
  CHECK(head_header(requests[1], "X-Forwarded-Proto") == "https");
  REQUIRE(eventually([&] { return count_of(gw.access_log(), "\n") >= 2; }));
  auto log = gw.access_log();
  CHECK(log.find("\"GET /plain HTTP/1.1\" 200") != std::string::npos);
  CHECK(log.find(" tls=-\n") != std::string::npos);
  CHECK(log.find(" tls=TLSv1.3\n") != std::string::npos);
}

TEST_CASE("tls: after a reload with a new certificate new connections get it while an open one goes on") {
  TempDir dir;
  TestPki pki(dir);
  auto old_cert = pki.issue("old", {"old.site.test", "site.test"});
  auto new_cert = pki.issue("new", {"new.site.test", "site.test"});
  SampleService svc(dir);
  const std::string yaml = "workers: 1\n" + app_yaml(svc);
  EdgeGateway gw(dir, "listen:\n" + tls_entry({old_cert}), yaml);

  TlsClient before(gw.port(), {"site.test", pki.ca()});
  REQUIRE(before.connected());
  CHECK(before.peer_cn() == "old.site.test");
  CHECK(before.get("/api/channels/1").status == 200);

  // The same listen entry, with another certificate file.
  auto swap = [&](const TestPki::Files& cert) { gw.rewrite_config("listen:\n" + tls_entry({cert}), yaml); };
  auto reloads = [&] { return count_of(gw.error_log(), "configuration reloaded"); };
  swap(new_cert);
  gw.process().signal(SIGHUP);
  REQUIRE(eventually([&] { return reloads() == 1; }));

  TlsClient after(gw.port(), {"site.test", pki.ca()});
  REQUIRE(after.connected());
  CHECK(after.peer_cn() == "new.site.test");
  auto r = s_client(dir, gw.port(), "site.test", {"-CAfile", pki.ca()}, kGetClose);
  CHECK(s_client_subject_cn(r.output) == "new.site.test");
  // The connection made before the reload still serves requests.
  CHECK(before.get("/api/channels/2").status == 200);
  CHECK(before.get("/api/channels/3").status == 200);
  CHECK(before.peer_cn() == "old.site.test");

  // A reload naming a key that does not match is refused, naming the file.
  auto mismatched = new_cert;
  mismatched.key = old_cert.key;
  swap(mismatched);
  gw.process().signal(SIGHUP);
  REQUIRE(eventually([&] { return gw.error_log().find("keeping the running configuration") != std::string::npos; }));
  CHECK(gw.error_log().find("private key " + old_cert.key + " does not match certificate " + new_cert.cert) !=
        std::string::npos);
  TlsClient still(gw.port(), {"site.test", pki.ca()});
  REQUIRE(still.connected());
  CHECK(still.peer_cn() == "new.site.test");
}

TEST_CASE("tls: a client that opens a connection and never completes the handshake is dropped after client_header") {
  TempDir dir;
  TestPki pki(dir);
  auto cert = pki.issue("site", {"site.test"});
  SampleService svc(dir);
  EdgeGateway gw(dir, "listen:\n" + tls_entry({cert}), "workers: 1\ntimeouts: {client_header: 1s}\n" + app_yaml(svc));

  RawConnection silent(gw.port());
  CHECK(silent.closed_by_peer(5s));
  // Plain HTTP to a TLS port is no handshake either.
  RawConnection plain(gw.port());
  plain.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(plain.read_until_close(5s).find("HTTP/1.1") == std::string::npos);
  CHECK(metric_or_zero(gw.metrics(), "gateway_tls_handshakes_total{listener=\"" + listener_label(gw.port()) +
                                         "\",result=\"failed\"}") == 2);
  // Others are served meanwhile.
  CHECK(curl_https(dir, gw.port(), "site.test", "/api/channels/1", pki.ca()).status == 200);
}

TEST_CASE("tls: --check refuses a missing certificate and a key of another certificate, naming the file") {
  TempDir dir;
  TestPki pki(dir);
  auto a = pki.issue("a", {"a.test"});
  auto b = pki.issue("b", {"b.test"});
  auto config = [&](const std::string& cert, const std::string& key) {
    return dir.write("check.yaml", "listen:\n  - address: \"127.0.0.1:8443\"\n    tls:\n      certificates:\n"
                                   "        - cert: \"" + cert + "\"\n          key: \"" + key + "\"\n"
                                   "upstreams: {app: {instances: [\"127.0.0.1:9001\"]}}\n"
                                   "routes: [{prefix: /, upstream: app}]\n");
  };
  auto missing = gateway_check(config(dir.file("gone.pem"), a.key));
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find(dir.file("check.yaml") + ":5:17: listen[0].tls.certificates[0].cert: cannot read certificate " +
                            dir.file("gone.pem")) != std::string::npos);
  auto mismatched = gateway_check(config(a.cert, b.key));
  CHECK(mismatched.exit_code == 1);
  CHECK(mismatched.output.find(dir.file("check.yaml") + ":6:16: listen[0].tls.certificates[0].key: private key " +
                               b.key + " does not match certificate " + a.cert) != std::string::npos);
  auto fine = gateway_check(config(a.cert, a.key));
  INFO(fine.output);
  CHECK(fine.exit_code == 0);
}
