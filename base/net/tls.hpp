// OpenSSL, the parts both TLS sides use: owning pointers, error codes and
// their messages, and loading certificates and keys from files with
// messages that name the file. The server contexts (gateway/tls.hpp) and
// the upstream client context (upstreams/tls.hpp) are built from these.
//
// No thread affinity: contexts are built on the thread that loads the
// configuration; the error categories are immutable.
#pragma once

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/system/error_code.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/net/tls_version.hpp"

namespace gateway::net {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const noexcept { SSL_CTX_free(c); }
};
struct SslFree {
  void operator()(SSL* s) const noexcept { SSL_free(s); }
};
struct SslSessionFree {
  void operator()(SSL_SESSION* s) const noexcept { SSL_SESSION_free(s); }
};
struct X509Free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;
using SslSessionPtr = std::unique_ptr<SSL_SESSION, SslSessionFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

// Error codes for what OpenSSL reports. tls_category(): the value is an
// OpenSSL error (ERR_get_error), its message OpenSSL's reason text.
// verify_category(): the value is an X509_V_ERR_* code, the message
// "certificate verify failed: <reason>".
const boost::system::error_category& tls_category() noexcept;
const boost::system::error_category& verify_category() noexcept;

// The most recent OpenSSL error of this thread as an error code (and the
// queue cleared); `fallback` if the queue is empty.
boost::system::error_code last_tls_error(boost::system::error_code fallback = {}) noexcept;
// The reasons of every queued OpenSSL error, "; "-joined, and the queue
// cleared: for messages after a call that failed.
std::string drain_errors();

// TLS1_2_VERSION, TLS1_3_VERSION.
int openssl_version(TlsVersion v) noexcept;         // TLS1_2_VERSION, ...

// Which file a problem with a certificate is about.
enum class CertFile { cert, key, ocsp, ca };

struct CertProblem {
  CertFile file;
  std::string message;  // names the file
};

// Loads the certificate chain in `cert` (PEM: the leaf first, then its
// intermediates) and the private key in `key` (PEM) into `ctx`, and checks
// that they belong together. The message says what is wrong and with which
// file: unreadable, no PEM certificate or key in it, key and certificate
// that do not match.
std::optional<CertProblem> use_certificate_and_key(SSL_CTX* ctx, const std::string& cert, const std::string& key);

// The DNS names a certificate serves: its subjectAltName DNS entries, or its
// subject's common name if it has none; lowercase, wildcards ("*.a.b") kept.
std::vector<std::string> certificate_names(X509* cert);

// An ALPN protocol list in its wire format (length-prefixed names).
std::string alpn_wire(const std::vector<std::string_view>& protocols);

}  // namespace gateway::net
