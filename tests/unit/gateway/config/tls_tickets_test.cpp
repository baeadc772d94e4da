// Tests for a listener's `tls.tickets_per_handshake`: its range, its
// default (one ticket, where OpenSSL sends two) and that the context a
// listener is built with sends that many.
#include <doctest/doctest.h>

#include "config_check.hpp"
#include "gateway/tls.hpp"
#include "tests/unit/tls_test_files.hpp"

using namespace gateway;
using namespace gateway::config::testing;

namespace {

constexpr ErrorCase kTicketErrors[] = {
    {"no tickets: that is session_tickets: false", R"(listen:
  - address: "127.0.0.1:8443"
    tls: {certificates: [{cert: a.pem, key: a.key}], tickets_per_handshake: 0}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 77, "0 is out of range (1..8)"},
    {"more than 8", R"(listen:
  - address: "127.0.0.1:8443"
    tls: {certificates: [{cert: a.pem, key: a.key}], tickets_per_handshake: 9}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 77, "9 is out of range (1..8)"},
    {"not a number", R"(listen:
  - address: "127.0.0.1:8443"
    tls: {certificates: [{cert: a.pem, key: a.key}], tickets_per_handshake: two}
upstreams: {app: {instances: ["127.0.0.1:9001"]}}
routes: [{prefix: /, upstream: app}]
)", 3, 77, "expected an integer"},
};

// The listener context's ticket count, for a `tls:` block with `extra`.
std::size_t tickets_of(TempDir& dir, const std::string& extra) {
  auto file = dir.write("gw.yaml", "listen:\n  - address: \"127.0.0.1:8443\"\n    tls:\n"
                                   "      certificates: [{cert: certs/a.pem, key: certs/a.key}]\n" +
                                       extra + "upstreams: {app: {instances: [\"127.0.0.1:9001\"]}}\n"
                                               "routes: [{prefix: /, upstream: app}]\n");
  auto config = loaded_ok(load_config(file.string()));
  REQUIRE(config->listen.size() == 1);
  REQUIRE(config->listen[0].tls);
  REQUIRE(config->listen[0].tls->context);
  return SSL_CTX_get_num_tickets(config->listen[0].tls->context->context());
}

}  // namespace

TEST_CASE("config tls: tickets_per_handshake out of range or not a number is an error at its place") {
  check_errors(kTicketErrors);
}

TEST_CASE("config tls: one ticket per handshake by default, tickets_per_handshake sets the listener context's") {
  TempDir dir;
  auto a = gateway::testing::make_cert({"a.example.com"});
  dir.write("certs/a.pem", a.cert_pem);
  dir.write("certs/a.key", a.key_pem);
  CHECK(tickets_of(dir, "") == 1);
  CHECK(tickets_of(dir, "      tickets_per_handshake: 3\n") == 3);
}
