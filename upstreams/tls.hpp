// TLS to upstream instances: the client context a group's `tls:` block
// becomes, the session kept per instance for resumption, and the
// handshake a new upstream connection makes.
//
// ClientTlsContext: built when the configuration is loaded, immutable but
// for its session slots, shared by every worker. A slot holds the last
// session an instance gave (TLS 1.2 session or TLS 1.3 ticket); the next new
// connection to that instance, from any worker, offers it, so a pool that
// reconnects pays an abbreviated handshake. Slots take a mutex, once per
// new connection, never per request.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/net/stream.hpp"
#include "base/net/tls.hpp"
#include "base/units.hpp"
#include "upstreams/config.hpp"

namespace gateway::upstreams {

struct PoolStats;   // upstreams/group.hpp
class Connection;   // upstreams/client.hpp

class SessionSlot {
 public:
  // The session kept (a reference of the caller's own), or null.
  net::SslSessionPtr get() const;
  // Keeps `session` (takes a reference of its own).
  void put(SSL_SESSION* session);

 private:
  mutable std::mutex mu_;
  net::SslSessionPtr session_;
};

class ClientTlsContext {
 public:
  struct Problem {
    net::CertFile file;  // ca, cert or key
    std::string message;
  };
  // Null, with every problem, if a file is refused.
  static std::shared_ptr<const ClientTlsContext> build(const TlsClientConfig& config, std::vector<Problem>& problems);

  SSL_CTX* context() const noexcept { return ctx_.get(); }
  const TlsClientConfig& config() const noexcept { return config_; }
  // The slot of the instance at `address` (its text); made on first use.
  SessionSlot& session(const std::string& address) const;

 private:
  ClientTlsContext() = default;
  static int on_new_session(SSL* ssl, SSL_SESSION* session);

  net::SslCtxPtr ctx_;
  TlsClientConfig config_;  // without the context itself
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::unique_ptr<SessionSlot>> sessions_;
};

// What a new connection to one instance needs for its handshake.
struct TlsTarget {
  std::shared_ptr<const ClientTlsContext> context;
  std::string server_name;  // sent as SNI; empty: none (an IP address)
  std::string verify_name;  // the name or IP address the certificate must carry; empty: not checked
  SessionSlot* session = nullptr;
};

// For instance `address` of a group with `tls` (none: plain HTTP).
std::optional<TlsTarget> tls_target(const std::optional<TlsClientConfig>& tls, const Endpoint& address);

// Counts a new connection in a pool's stats: opened, and its TLS handshake.
void count_connection(PoolStats& stats, const Connection& connection) noexcept;

// TLS over a connected stream: SNI, the name check, the slot's session
// offered and the instance's new ones kept. The error names the reason
// (a refused certificate says why: net::verify_category()).
boost::asio::awaitable<boost::system::error_code> client_handshake(net::Stream& stream, const TlsTarget& target);

}  // namespace gateway::upstreams
