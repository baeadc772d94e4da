// Tests for gateway/tls.hpp: which certificate a server name gets (SNI),
// how session ticket keys rotate, and what a listener's context is built
// from.
#include "gateway/tls.hpp"

#include <doctest/doctest.h>

#include <fstream>

#include "config/config_check.hpp"
#include "tests/unit/tls_test_files.hpp"

using gateway::TlsConfig;
using gateway::tls::CertificateIndex;
using gateway::tls::ServerContext;
using gateway::tls::TicketKeys;

TEST_CASE("tls: SNI picks an exact name first, then a one-label wildcard, then the first certificate") {
  CertificateIndex index;
  index.add(0, {"default.example.com"});
  index.add(1, {"a.example.com", "*.example.com"});
  index.add(2, {"b.example.com", "*.b.example.com"});
  index.add(3, {"a.example.com", "*.example.com", "*.other.test"});  // repeats: the earlier certificate keeps them

  struct Case {
    const char* name;
    std::size_t certificate;
  };
  const Case cases[] = {
      {"default.example.com", 0},
      {"a.example.com", 1},      // exact
      {"A.Example.COM", 1},      // without case
      {"a.example.com.", 1},     // the root's dot
      {"b.example.com", 2},      // exact beats the wildcard of 1
      {"x.example.com", 1},      // *.example.com
      {"x.b.example.com", 2},    // *.b.example.com
      {"x.y.example.com", 0},    // a wildcard covers one label only
      {"example.com", 0},        // ... and not the bare domain
      {"www.other.test", 3},     // a wildcard only certificate 3 has
      {"unknown.test", 0},
      {"", 0},
      {".example.com", 0},       // an empty first label is nothing
  };
  for (const auto& c : cases) {
    CAPTURE(std::string(c.name));
    CHECK(index.pick(c.name) == c.certificate);
  }
}

TEST_CASE("tls: ticket keys rotate each interval and the previous key still opens tickets for one more") {
  using namespace std::chrono_literals;
  TicketKeys keys(3600s);
  const TicketKeys::Clock::time_point t0{};
  auto k1 = keys.current(t0 + 10s);
  CHECK(keys.current(t0 + 3000s).name == k1.name);  // within the interval: the same key

  auto found = keys.find(k1.name.data(), t0 + 3000s);
  REQUIRE(found);
  CHECK(found->first.aes == k1.aes);
  CHECK_FALSE(found->second);  // the current key: no renewal

  // One interval later: a new key encrypts; the old one decrypts, and asks for renewal.
  auto k2 = keys.current(t0 + 3610s);
  CHECK(k2.name != k1.name);
  CHECK(k2.aes != k1.aes);
  found = keys.find(k1.name.data(), t0 + 3620s);
  REQUIRE(found);
  CHECK(found->second);
  CHECK(keys.find(k2.name.data(), t0 + 3620s)->second == false);

  // Another interval: k1 is gone, k2 is the previous one.
  auto k3 = keys.current(t0 + 7300s);
  CHECK(k3.name != k2.name);
  CHECK_FALSE(keys.find(k1.name.data(), t0 + 7300s));
  CHECK(keys.find(k2.name.data(), t0 + 7300s)->second);

  // Idle for two intervals: nothing made before opens anything.
  CHECK_FALSE(keys.find(k3.name.data(), t0 + 7300s + 7200s));
  CHECK_FALSE(keys.find(k2.name.data(), t0 + 7300s + 7200s));

  unsigned char unknown[16] = {1, 2, 3};
  CHECK_FALSE(keys.find(unknown, t0 + 7300s + 7200s));
}

TEST_CASE("tls: a listener's context takes the certificates' names, and a key of another certificate is refused") {
  gateway::config::testing::TempDir dir;
  auto ca = gateway::testing::make_cert({});
  auto a = gateway::testing::make_cert({"a.example.com", "*.a.example.com"}, &ca);
  auto b = gateway::testing::make_cert({"b.example.com"}, &ca);
  TlsConfig config;
  config.certificates = {
      {dir.write("a.pem", a.cert_pem).string(), dir.write("a.key", a.key_pem).string(), ""},
      {dir.write("b.pem", b.cert_pem).string(), dir.write("b.key", b.key_pem).string(), ""},
  };
  std::vector<gateway::tls::Problem> problems;
  auto ctx = ServerContext::build(config, "127.0.0.1:8443", problems);
  REQUIRE(problems.empty());
  REQUIRE(ctx);
  CHECK(ctx->names() == std::vector<std::vector<std::string>>{{"a.example.com", "*.a.example.com"}, {"b.example.com"}});

  config.certificates[1].key = config.certificates[0].key;
  problems.clear();
  CHECK_FALSE(ServerContext::build(config, "127.0.0.1:8443", problems));
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].certificate == 1);
  CHECK(problems[0].file == gateway::net::CertFile::key);
  CHECK(problems[0].message == "private key " + config.certificates[0].key + " does not match certificate " +
                                   config.certificates[1].cert);
}
