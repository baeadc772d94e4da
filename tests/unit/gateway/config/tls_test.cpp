// Tests for the `tls:` blocks (gateway/config/tls.cpp): a listener's
// certificates, protocols and ciphers, an upstream group's verification,
// CA, SNI and client certificate, and every mistake in them, files
// included, at its place in the YAML.
#include <doctest/doctest.h>

#include "config_check.hpp"
#include "gateway/tls.hpp"
#include "tests/unit/tls_test_files.hpp"
#include "upstreams/tls.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr const char* kTail = R"(upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)";

constexpr const char* kRoutes = "routes: [{prefix: /, upstream: app}]\n";

std::string with_routes(const char* head) { return std::string(head) + kRoutes; }

constexpr ErrorCase kTlsErrors[] = {
    {"a listen entry without an address", R"(listen:
  - tls: {certificates: [{cert: a.pem, key: a.key}]}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 5, "listen[0]: missing required key \"address\""},

    {"an unknown key in a listen entry", R"(listen:
  - {address: "127.0.0.1:8443", http3: true}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 2, 33, "unknown key \"http3\" in listen[0]"},

    {"tls without certificates", R"(listen:
  - address: "127.0.0.1:8443"
    tls: {protocols: [TLSv1.3]}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 10, "listen[0].tls: missing required key \"certificates\""},

    {"an empty list of certificates", R"(listen:
  - address: "127.0.0.1:8443"
    tls: {certificates: []}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 25, "must list at least one certificate"},

    {"a certificate without its key", R"(listen:
  - address: "127.0.0.1:8443"
    tls: {certificates: [{cert: a.pem}]}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 26, "listen[0].tls.certificates[0]: missing required key \"key\""},

    {"an unknown protocol", R"(listen:
  - address: "127.0.0.1:8443"
    tls: {certificates: [{cert: a.pem, key: a.key}], protocols: [TLSv1.2, TLSv1.1]}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 75, "unknown value \"TLSv1.1\" (expected one of: TLSv1.2, TLSv1.3)"},

    {"session_tickets not a boolean", R"(listen:
  - address: "127.0.0.1:8443"
    tls: {certificates: [{cert: a.pem, key: a.key}], session_tickets: often}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 71, "expected true or false"},

    {"an unknown key in tls", R"(listen:
  - address: "127.0.0.1:8443"
    tls: {certificates: [{cert: a.pem, key: a.key}], ssl_stapling: on}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 54, "unknown key \"ssl_stapling\" in listen[0].tls"},

    {"an unknown key in an upstream's tls", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    tls: {verify: true, crl: x.pem}
routes: [{prefix: /, upstream: app}]
)", 4, 25, "unknown key \"crl\" in upstreams.app.tls"},

    {"an upstream sni that is no host name", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    tls: {sni: "a.example.com/x"}
routes: [{prefix: /, upstream: app}]
)", 4, 16, "upstreams.app.tls.sni: invalid server name \"a.example.com/x\""},

    {"an upstream verify that is not a boolean", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    tls: {verify: strict}
routes: [{prefix: /, upstream: app}]
)", 4, 19, "expected true or false"},

    {"a client certificate without its key", R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    tls: {client_cert: {cert: c.pem}}
routes: [{prefix: /, upstream: app}]
)", 4, 24, "upstreams.app.tls.client_cert: missing required key \"key\""},
};

// A listener with one certificate, its fields one per line: the value of
// `cert:` is at 5:17, of `key:` at 6:16, of a third line's key at 7:x.
constexpr const char* kListener = R"(listen:
  - address: "127.0.0.1:0"
    tls:
      certificates:
        - cert: %CERT%
          key: %KEY%
)";

std::string listener(const std::string& cert, const std::string& key, const std::string& more = "") {
  std::string y = kListener;
  y.replace(y.find("%CERT%"), 6, cert);
  y.replace(y.find("%KEY%"), 5, key);
  return y + more + kTail;
}

}  // namespace

TEST_CASE("config tls: every mistake in a tls block is an error at its place") { check_errors(kTlsErrors); }

TEST_CASE("config tls: a missing, non-PEM or mismatched file is an error naming it, at the field naming it") {
  TempDir dir;
  auto ca = gateway::testing::make_cert({});
  auto a = gateway::testing::make_cert({"a.example.com"}, &ca);
  auto b = gateway::testing::make_cert({"b.example.com"}, &ca);
  dir.write("a.pem", a.cert_pem);
  dir.write("a.key", a.key_pem);
  dir.write("b.key", b.key_pem);
  dir.write("ca.pem", ca.cert_pem);
  dir.write("notes.txt", "not a certificate\n");
  const std::string d = dir.path().string() + "/";

  struct Case {
    const char* name;
    std::string yaml;
    int line, column;
    std::string message;  // the whole message
  };
  const Case cases[] = {
      {"a missing certificate", listener("missing.pem", "a.key"), 5, 17,
       "listen[0].tls.certificates[0].cert: cannot read certificate " + d + "missing.pem: No such file or directory"},
      {"a certificate file without PEM", listener("notes.txt", "a.key"), 5, 17,
       "listen[0].tls.certificates[0].cert: no PEM certificate in " + d + "notes.txt"},
      {"a missing key", listener("a.pem", "missing.key"), 6, 16,
       "listen[0].tls.certificates[0].key: cannot read private key " + d + "missing.key: No such file or directory"},
      {"a key file without PEM", listener("a.pem", "notes.txt"), 6, 16,
       "listen[0].tls.certificates[0].key: no PEM private key in " + d +
           "notes.txt (an encrypted key is not supported)"},
      {"a key of another certificate", listener("a.pem", "b.key"), 6, 16,
       "listen[0].tls.certificates[0].key: private key " + d + "b.key does not match certificate " + d + "a.pem"},
      {"an OCSP file that is no DER response", listener("a.pem", "a.key", "          ocsp: notes.txt\n"), 7, 17,
       "listen[0].tls.certificates[0].ocsp: no DER OCSP response in " + d + "notes.txt"},
      {"TLS 1.2 ciphers OpenSSL does not know", listener("a.pem", "a.key", "      ciphers: NOPE-CIPHER\n"), 7, 16,
       "listen[0].tls.ciphers: no TLS 1.2 cipher known to OpenSSL in \"NOPE-CIPHER\""},
      {"a TLS 1.3 suite OpenSSL does not know",
       listener("a.pem", "a.key", "      ciphersuites: TLS_AES_128_GCM_SHA256:TLS_FAKE_SUITE\n"), 7, 21,
       "listen[0].tls.ciphersuites: unknown TLS 1.3 cipher suite \"TLS_FAKE_SUITE\""},
      {"a missing CA file", with_routes(R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    tls:
      ca: missing-ca.pem
)"), 5, 11, "upstreams.app.tls.ca: cannot read CA file " + d + "missing-ca.pem: No such file or directory"},
      {"a CA file without certificates", with_routes(R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    tls:
      ca: notes.txt
)"), 5, 11, "upstreams.app.tls.ca: no PEM certificate in CA file " + d + "notes.txt"},
      {"a client key of another certificate", with_routes(R"(upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    tls:
      ca: ca.pem
      client_cert:
        cert: a.pem
        key: b.key
)"), 8, 14, "upstreams.app.tls.client_cert.key: private key " + d + "b.key does not match certificate " + d + "a.pem"},
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    auto file = dir.write("gw.yaml", c.yaml);
    auto result = load_config(file.string());
    INFO(all_errors(result.errors));
    REQUIRE(result.errors.size() == 1);
    CHECK(result.errors[0].file == file.string());
    CHECK(result.errors[0].line == c.line);
    CHECK(result.errors[0].column == c.column);
    CHECK(result.errors[0].message == c.message);
  }
}

TEST_CASE("config tls: listeners plain and TLS, with their certificates' contexts built at load") {
  TempDir dir;
  auto ca = gateway::testing::make_cert({});
  auto a = gateway::testing::make_cert({"a.example.com"}, &ca);
  auto w = gateway::testing::make_cert({"*.example.com"}, &ca);
  dir.write("certs/a.pem", a.cert_pem);
  dir.write("certs/a.key", a.key_pem);
  dir.write("certs/w.pem", w.cert_pem);
  dir.write("certs/w.key", w.key_pem);
  dir.write("certs/ca.pem", ca.cert_pem);
  auto file = dir.write("gw.yaml", R"(listen:
  - "127.0.0.1:8080"
  - address: "127.0.0.1:8443"
    tls:
      certificates:
        - {cert: certs/a.pem, key: certs/a.key}
        - {cert: certs/w.pem, key: certs/w.key}
      protocols: [TLSv1.3]
      ciphersuites: TLS_AES_128_GCM_SHA256
      session_tickets: false
upstreams:
  app:
    instances: ["127.0.0.1:9001"]
    tls: {ca: certs/ca.pem, sni: app.internal}
  open:
    instances: ["127.0.0.1:9002"]
    tls: {verify: false}
routes: [{prefix: /, upstream: app}]
)");
  auto config = loaded_ok(load_config(file.string()));
  REQUIRE(config->listen.size() == 2);
  CHECK_FALSE(config->listen[0].tls);
  REQUIRE(config->listen[1].tls);
  const auto& tls = *config->listen[1].tls;
  REQUIRE(tls.certificates.size() == 2);
  CHECK(tls.certificates[1].cert == (dir.path() / "certs/w.pem").string());
  CHECK(tls.min_version == net::TlsVersion::tls1_3);
  CHECK(tls.max_version == net::TlsVersion::tls1_3);
  CHECK(tls.ciphersuites == "TLS_AES_128_GCM_SHA256");
  CHECK(tls.ciphers == TlsConfig::kDefaultCiphers);
  CHECK_FALSE(tls.session_tickets);
  REQUIRE(tls.context);
  CHECK(tls.context->names() == std::vector<std::vector<std::string>>{{"a.example.com"}, {"*.example.com"}});
  CHECK(config->find_listen("127.0.0.1:8443") == &config->listen[1]);

  const auto& app = config->upstreams[0].tls;
  REQUIRE(app);
  CHECK(app->verify);
  CHECK(app->ca == (dir.path() / "certs/ca.pem").string());
  CHECK(app->sni == "app.internal");
  CHECK(app->context);
  const auto& open = config->upstreams[1].tls;
  REQUIRE(open);
  CHECK_FALSE(open->verify);
  CHECK(open->context);
  CHECK_FALSE(config->upstreams[0].tls->context->config().sni.empty());
}
