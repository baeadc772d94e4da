// TLS on listeners: what a listener's `tls:` block becomes. One
// ServerContext per TLS listener holds an OpenSSL context per certificate;
// the first is the listener's (the default certificate, the SNI callback,
// the session cache and tickets), the SNI callback switches a connection to
// another certificate's context by the name the client asked for.
//
// Built when the configuration is loaded (gateway/config/tls.cpp), so
// `--check` and a reload report every unreadable, non-PEM or mismatched
// file at its place in the YAML. Immutable after that and shared by every
// worker: OpenSSL contexts are safe to use from many threads, and sharing
// one means sharing its session cache. A reload builds new contexts; a
// connection keeps the one it started with (shared_ptr) until it closes.
//
// Session tickets are encrypted with process-wide keys (TicketKeys), so a
// ticket from one worker resumes on any other, and across reloads.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/net/tls.hpp"
#include "gateway/config.hpp"

namespace gateway::tls {

// Which certificate serves a server name (SNI): a certificate whose names
// hold the name exactly, else one with a wildcard for it ("*.example.com"
// covers "a.example.com", not "example.com" nor "a.b.example.com"), else
// the first certificate. Where two certificates name the same, the earlier
// one wins. Names compare without case. Pure.
class CertificateIndex {
 public:
  void add(std::size_t certificate, const std::vector<std::string>& names);
  std::size_t pick(std::string_view server_name) const;

 private:
  std::unordered_map<std::string, std::size_t> exact_;
  std::unordered_map<std::string, std::size_t> wildcard_;  // by the part after "*."
};

// Session ticket keys (RFC 5077's key name, AES key and HMAC key), rotated
// every `interval`: the current key encrypts new tickets; the previous one
// still decrypts for another interval (a ticket it opens is renewed). A
// key older than two intervals opens nothing, so a ticket is good for at
// least one interval and at most two. Thread-safe: every worker's
// handshakes call it.
class TicketKeys {
 public:
  struct Key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes{};
    std::array<unsigned char, 32> hmac{};
  };
  using Clock = std::chrono::steady_clock;

  explicit TicketKeys(std::chrono::seconds interval) : interval_(interval) {}

  Key current(Clock::time_point now);
  // The key called `name`, and whether it is the previous one.
  std::optional<std::pair<Key, bool>> find(const unsigned char* name, Clock::time_point now);
  std::chrono::seconds interval() const noexcept { return interval_; }

 private:
  void rotate_if_due(Clock::time_point now);  // with mu_ held
  static Key fresh_key();

  std::mutex mu_;
  std::chrono::seconds interval_;
  std::optional<Key> current_, previous_;
  Clock::time_point since_{};  // when current_ was made
};

// The keys every listener of this process uses, rotated hourly.
TicketKeys& process_ticket_keys();

// What is wrong with a `tls:` block, and where.
struct Problem {
  enum class Where { certificate, ciphers, ciphersuites, context };
  Where where;
  std::size_t certificate = 0;        // Where::certificate: its index
  net::CertFile file = net::CertFile::cert;  // ... and which of its files
  std::string message;
};

class ServerContext {
 public:
  // Null, with every problem, if a file or setting is refused. `listener`
  // (the address) keeps sessions of different listeners apart.
  static std::shared_ptr<const ServerContext> build(const TlsConfig& config, std::string_view listener,
                                                    std::vector<Problem>& problems);

  // What a new connection on the listener starts with.
  SSL_CTX* context() const noexcept { return contexts_.front().get(); }
  // The names each certificate serves, in configuration order.
  const std::vector<std::vector<std::string>>& names() const noexcept { return names_; }

 private:
  ServerContext() = default;
  static int on_server_name(SSL* ssl, int* alert, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                     unsigned int inlen, void* arg);
  static int on_status(SSL* ssl, void* arg);

  std::vector<net::SslCtxPtr> contexts_;  // one per certificate, [0] the listener's
  std::vector<std::vector<std::string>> names_;
  std::vector<std::string> ocsp_;  // DER response per certificate; empty: none
  CertificateIndex index_;
  std::string alpn_;  // the protocols offered, in ALPN wire format
};

}  // namespace gateway::tls
