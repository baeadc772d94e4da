// Tests for base/net/stream.hpp: the same reads and writes over plain TCP
// and over TLS, on loopback in one io_context (server and client are two
// coroutines).
#include "base/net/stream.hpp"

#include <doctest/doctest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <openssl/err.h>

#include <array>
#include <optional>
#include <string>

#include "tests/unit/tls_test_files.hpp"

namespace asio = boost::asio;
using gateway::net::Stream;
using gateway::net::tcp;

namespace {

gateway::net::SslCtxPtr server_context(const gateway::testing::TestCert& cert) {
  gateway::net::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  BIO* cb = BIO_new_mem_buf(cert.cert_pem.data(), static_cast<int>(cert.cert_pem.size()));
  X509* x = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO* kb = BIO_new_mem_buf(cert.key_pem.data(), static_cast<int>(cert.key_pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
  REQUIRE(SSL_CTX_use_certificate(ctx.get(), x) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey(ctx.get(), k) == 1);
  X509_free(x);
  EVP_PKEY_free(k);
  BIO_free(cb);
  BIO_free(kb);
  return ctx;
}

// A client context trusting `ca` and checking the name `host`.
gateway::net::SslCtxPtr client_context(const gateway::testing::TestCert& ca) {
  gateway::net::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  BIO* cb = BIO_new_mem_buf(ca.cert_pem.data(), static_cast<int>(ca.cert_pem.size()));
  X509* x = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), x);
  X509_free(x);
  BIO_free(cb);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  return ctx;
}

std::string pattern(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i % 23);
  return s;
}

struct Result {
  boost::system::error_code client_handshake, server_handshake;
  std::string received;  // what the client got back
  std::string version;
};

// A server that echoes what it reads until the client closes; a client that
// sends `pieces` in one gather write, shuts down its sending half and reads
// everything back. With `ctx`s: TLS, the client checking `host`.
Result exchange(SSL_CTX* server_ctx, SSL_CTX* client_ctx, const std::string& host,
                const std::vector<std::string>& pieces) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  Result r;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Stream s(co_await acceptor.async_accept(asio::use_awaitable));
        if (server_ctx) {
          REQUIRE(!s.start_tls(server_ctx, Stream::Role::server));
          r.server_handshake = co_await s.handshake();
          if (r.server_handshake) co_return;
        }
        std::array<char, 3000> buf;
        for (;;) {
          auto [ec, n] = co_await s.read_some(asio::buffer(buf));
          if (ec) break;
          auto [wec, w] = co_await s.write(asio::const_buffer(buf.data(), n));
          if (wec) break;
        }
        s.shutdown_send();
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        Stream s(io.get_executor());
        co_await s.socket().async_connect(acceptor.local_endpoint(), asio::use_awaitable);
        if (client_ctx) {
          REQUIRE(!s.start_tls(client_ctx, Stream::Role::client));
          SSL_set_tlsext_host_name(s.ssl(), host.c_str());
          SSL_set1_host(s.ssl(), host.c_str());
          r.client_handshake = co_await s.handshake();
          r.version = std::string(s.version());
          if (r.client_handshake) co_return;
        }
        std::vector<asio::const_buffer> bufs;
        for (const auto& p : pieces) bufs.push_back(asio::buffer(p));
        auto [wec, w] = co_await s.write(bufs);
        REQUIRE(!wec);
        s.shutdown_send();
        std::array<char, 4096> buf;
        for (;;) {
          auto [ec, n] = co_await s.read_some(asio::buffer(buf));
          if (ec) break;
          r.received.append(buf.data(), n);
        }
      },
      asio::detached);
  io.run();
  return r;
}

}  // namespace

TEST_CASE("stream: over TLS, a gather write of small and large pieces arrives whole and in order") {
  auto ca = gateway::testing::make_cert({});
  auto cert = gateway::testing::make_cert({"service.test"}, &ca);
  auto server = server_context(cert);
  auto client = client_context(ca);
  // Small pieces are gathered into records; the large one spans several.
  std::vector<std::string> pieces = {"HTTP/1.1 200 OK\r\n\r\n", pattern(40'000, 'a'), "5\r\n", pattern(17'000, 'k'),
                                     "", "\r\n0\r\n\r\n"};
  std::string all;
  for (const auto& p : pieces) all += p;
  auto r = exchange(server.get(), client.get(), "service.test", pieces);
  CHECK_FALSE(r.client_handshake);
  CHECK_FALSE(r.server_handshake);
  CHECK(r.version == "TLSv1.3");
  CHECK(r.received.size() == all.size());
  CHECK(r.received == all);
}

TEST_CASE("stream: plain TCP goes through the same reads and writes") {
  std::vector<std::string> pieces = {"head\r\n", pattern(70'000, 'x'), "tail"};
  std::string all;
  for (const auto& p : pieces) all += p;
  auto r = exchange(nullptr, nullptr, "", pieces);
  CHECK(r.version.empty());
  CHECK(r.received == all);
}

TEST_CASE("stream: a certificate for another name fails the handshake with a verify error saying why") {
  auto ca = gateway::testing::make_cert({});
  auto cert = gateway::testing::make_cert({"service.test"}, &ca);
  auto server = server_context(cert);
  auto client = client_context(ca);
  auto r = exchange(server.get(), client.get(), "other.test", {"x"});
  REQUIRE(r.client_handshake);
  CHECK(&r.client_handshake.category() == &gateway::net::verify_category());
  CHECK(r.client_handshake.message().find("certificate verify failed") != std::string::npos);
  CHECK(r.client_handshake.message().find("hostname mismatch") != std::string::npos);
  CHECK(r.received.empty());
}
