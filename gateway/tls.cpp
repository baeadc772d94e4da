#include "gateway/tls.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <span>
#include <stdexcept>

#include "base/file.hpp"

namespace gateway::tls {

namespace {

// Sessions (the cache, and how long a ticket is good for), and how often
// the ticket keys change: a ticket is refused after at most two of these.
constexpr std::chrono::seconds kTicketKeyInterval{3600};
constexpr long kSessionTimeout = 3600;
constexpr long kSessionCacheSize = 20'480;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The cipher tickets are sealed with, fetched once: a fetch by name (what
// EVP_aes_256_cbc() does inside EVP_EncryptInit_ex on every call in
// OpenSSL 3) walks the provider store under a lock on every handshake.
const EVP_CIPHER* ticket_cipher() {
  static const EVP_CIPHER* cipher = [] {
    const EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
    return c ? c : EVP_aes_256_cbc();
  }();
  return cipher;
}

// The ticket key callback of every listener context: encrypt with the
// current key, decrypt with the one the ticket names. 2 asks for a new
// ticket: when the key is the previous one, and always under TLS 1.3,
// where a client uses a ticket once (OpenSSL's marks a session it resumed
// as spent) and so needs a new one from each resumption, as OpenSSL's own
// ticket handling gives it.
int on_ticket_key(SSL* ssl, unsigned char* key_name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                  int encrypt) {
  auto& keys = process_ticket_keys();
  const auto now = TicketKeys::Clock::now();
  TicketKeys::Key key;
  int result = 1;
  if (encrypt) {
    key = keys.current(now);
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(ticket_cipher())) != 1) return -1;
    std::memcpy(key_name, key.name.data(), key.name.size());
  } else {
    auto found = keys.find(key_name, now);
    if (!found) return 0;  // unknown or expired key: a full handshake
    key = found->first;
    result = found->second || SSL_version(ssl) == TLS1_3_VERSION ? 2 : 1;
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  int ok = encrypt ? EVP_EncryptInit_ex(cipher, ticket_cipher(), nullptr, key.aes.data(), iv)
                   : EVP_DecryptInit_ex(cipher, ticket_cipher(), nullptr, key.aes.data(), iv);
  return ok == 1 ? result : -1;
}

std::vector<std::string> split(std::string_view list, char sep) {
  std::vector<std::string> out;
  while (!list.empty()) {
    auto at = list.find(sep);
    if (auto item = list.substr(0, at); !item.empty()) out.emplace_back(item);
    if (at == std::string_view::npos) break;
    list.remove_prefix(at + 1);
  }
  return out;
}

// Protocols, ciphers and options, the same on every context of a listener
// (SNI switches the certificate, not these). Problems with the cipher
// strings go to `problems` when given (once per listener).
void configure(SSL_CTX* ctx, const TlsConfig& config, std::span<const unsigned char> sid_context,
               std::vector<Problem>* problems) {
  SSL_CTX_set_min_proto_version(ctx, net::openssl_version(config.min_version));
  SSL_CTX_set_max_proto_version(ctx, net::openssl_version(config.max_version));
  // No renegotiation (a client could make us do handshakes at will); a
  // close without close_notify is an end of stream, as for HTTP clients.
  long options = SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF;
  if (!config.session_tickets) options |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, options);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_id_context(ctx, sid_context.data(), static_cast<unsigned int>(sid_context.size()));
  if (config.session_tickets) SSL_CTX_set_num_tickets(ctx, static_cast<std::size_t>(config.tickets_per_handshake));

  ERR_clear_error();
  if (SSL_CTX_set_cipher_list(ctx, config.ciphers.c_str()) != 1 && problems) {
    problems->push_back({Problem::Where::ciphers, 0, {}, "no TLS 1.2 cipher known to OpenSSL in \"" + config.ciphers + "\""});
  }
  if (SSL_CTX_set_ciphersuites(ctx, config.ciphersuites.c_str()) != 1 && problems) {
    problems->push_back({Problem::Where::ciphersuites, 0, {}, "invalid TLS 1.3 cipher suites \"" + config.ciphersuites + "\""});
  } else if (problems) {
    // OpenSSL skips names it does not know: say which.
    STACK_OF(SSL_CIPHER)* known = SSL_CTX_get_ciphers(ctx);
    for (const auto& name : split(config.ciphersuites, ':')) {
      bool found = false;
      for (int i = 0; i < sk_SSL_CIPHER_num(known) && !found; ++i)
        found = name == SSL_CIPHER_standard_name(sk_SSL_CIPHER_value(known, i));
      if (!found)
        problems->push_back({Problem::Where::ciphersuites, 0, {}, "unknown TLS 1.3 cipher suite \"" + name + "\""});
    }
  }
  ERR_clear_error();
}

// A DER OCSP response for stapling, checked to be one that says
// "successful" (whether the certificate is good is the client's to judge).
std::optional<std::string> read_ocsp(const std::string& path, std::string& error) {
  auto file = read_whole_file(path);
  if (!file.bytes) {
    error = "cannot read OCSP response " + path + ": " + file.error;
    return std::nullopt;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(file.bytes->data());
  OCSP_RESPONSE* resp = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(file.bytes->size()));
  if (!resp) {
    ERR_clear_error();
    error = "no DER OCSP response in " + path;
    return std::nullopt;
  }
  int status = OCSP_response_status(resp);
  OCSP_RESPONSE_free(resp);
  if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    error = "OCSP response " + path + " is not successful (" + OCSP_response_status_str(status) + ")";
    return std::nullopt;
  }
  return std::move(file.bytes);
}

}  // namespace

// --- CertificateIndex ----------------------------------------------------------

void CertificateIndex::add(std::size_t certificate, const std::vector<std::string>& names) {
  for (const auto& raw : names) {
    auto name = lower(raw);
    if (name.size() > 2 && name.compare(0, 2, "*.") == 0) {
      wildcard_.emplace(name.substr(2), certificate);
    } else if (!name.empty()) {
      exact_.emplace(std::move(name), certificate);
    }
  }
}

std::size_t CertificateIndex::pick(std::string_view server_name) const {
  std::string name = lower(server_name);
  if (!name.empty() && name.back() == '.') name.pop_back();  // "example.com." is example.com
  if (auto it = exact_.find(name); it != exact_.end()) return it->second;
  // A wildcard covers one label: "a.example.com" -> "example.com".
  if (auto dot = name.find('.'); dot != std::string::npos && dot > 0) {
    if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) return it->second;
  }
  return 0;
}

// --- TicketKeys ------------------------------------------------------------------

TicketKeys::Key TicketKeys::fresh_key() {
  Key k;
  if (RAND_bytes(k.name.data(), k.name.size()) != 1 || RAND_bytes(k.aes.data(), k.aes.size()) != 1 ||
      RAND_bytes(k.hmac.data(), k.hmac.size()) != 1)
    throw std::runtime_error("RAND_bytes failed: no randomness for session ticket keys");
  return k;
}

void TicketKeys::rotate_if_due(Clock::time_point now) {
  if (!current_ || now - since_ >= 2 * interval_) {
    current_ = fresh_key();
    previous_.reset();
    since_ = now;
  } else if (now - since_ >= interval_) {
    previous_ = current_;
    current_ = fresh_key();
    since_ = now;
  }
}

TicketKeys::Key TicketKeys::current(Clock::time_point now) {
  std::lock_guard lock(mu_);
  rotate_if_due(now);
  return *current_;
}

std::optional<std::pair<TicketKeys::Key, bool>> TicketKeys::find(const unsigned char* name, Clock::time_point now) {
  std::lock_guard lock(mu_);
  rotate_if_due(now);
  if (std::equal(current_->name.begin(), current_->name.end(), name)) return std::pair{*current_, false};
  if (previous_ && std::equal(previous_->name.begin(), previous_->name.end(), name)) return std::pair{*previous_, true};
  return std::nullopt;
}

TicketKeys& process_ticket_keys() {
  static TicketKeys keys(kTicketKeyInterval);
  return keys;
}

// --- ServerContext ---------------------------------------------------------------

std::shared_ptr<const ServerContext> ServerContext::build(const TlsConfig& config, std::string_view listener,
                                                          std::vector<Problem>& problems) {
  std::shared_ptr<ServerContext> self(new ServerContext());
  const auto before = problems.size();
  // The protocols offered by ALPN, in order of preference.
  self->alpn_ = config.offer_h2 ? net::alpn_wire({"h2", "http/1.1"}) : net::alpn_wire({"http/1.1"});
  // Sessions of one listener resume only on that listener.
  std::array<unsigned char, SHA256_DIGEST_LENGTH> sid{};
  SHA256(reinterpret_cast<const unsigned char*>(listener.data()), listener.size(), sid.data());

  for (std::size_t i = 0; i < config.certificates.size(); ++i) {
    const auto& c = config.certificates[i];
    ERR_clear_error();
    net::SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) {
      problems.push_back({Problem::Where::context, i, {}, "cannot create a TLS context: " + net::drain_errors()});
      return nullptr;
    }
    configure(ctx.get(), config, sid, i == 0 ? &problems : nullptr);
    if (auto p = net::use_certificate_and_key(ctx.get(), c.cert, c.key)) {
      problems.push_back({Problem::Where::certificate, i, p->file, std::move(p->message)});
      continue;
    }
    std::string ocsp;
    if (!c.ocsp.empty()) {
      std::string error;
      if (auto der = read_ocsp(c.ocsp, error)) {
        ocsp = std::move(*der);
      } else {
        problems.push_back({Problem::Where::certificate, i, net::CertFile::ocsp, std::move(error)});
        continue;
      }
    }
    self->names_.push_back(net::certificate_names(SSL_CTX_get0_certificate(ctx.get())));
    self->ocsp_.push_back(std::move(ocsp));
    self->contexts_.push_back(std::move(ctx));
  }
  if (problems.size() != before || self->contexts_.empty()) return nullptr;

  // The vectors are complete: callbacks may point into them now.
  for (std::size_t i = 0; i < self->contexts_.size(); ++i) {
    SSL_CTX* ctx = self->contexts_[i].get();
    self->index_.add(i, self->names_[i]);
    SSL_CTX_set_alpn_select_cb(ctx, &ServerContext::on_alpn, self.get());
    if (!self->ocsp_[i].empty()) {
      SSL_CTX_set_tlsext_status_cb(ctx, &ServerContext::on_status);
      SSL_CTX_set_tlsext_status_arg(ctx, &self->ocsp_[i]);
    }
  }
  // The listener's context: where every connection starts, and where
  // OpenSSL keeps sessions and asks for ticket keys even after SNI moved
  // the connection to another certificate's context.
  SSL_CTX* first = self->contexts_.front().get();
  SSL_CTX_set_tlsext_servername_callback(first, &ServerContext::on_server_name);
  SSL_CTX_set_tlsext_servername_arg(first, self.get());
  SSL_CTX_set_session_cache_mode(first, SSL_SESS_CACHE_SERVER);
  SSL_CTX_sess_set_cache_size(first, kSessionCacheSize);
  SSL_CTX_set_timeout(first, kSessionTimeout);
  if (config.session_tickets) SSL_CTX_set_tlsext_ticket_key_evp_cb(first, &on_ticket_key);
  return self;
}

int ServerContext::on_server_name(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;  // no SNI: the default certificate
  std::size_t i = self->index_.pick(name);
  if (i != 0) SSL_set_SSL_CTX(ssl, self->contexts_[i].get());
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::on_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                           unsigned int inlen, void* arg) {
  const auto* self = static_cast<const ServerContext*>(arg);
  unsigned char* chosen = nullptr;
  // Our order of preference, among what the client offers.
  if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(self->alpn_.data()),
                            static_cast<unsigned int>(self->alpn_.size()), in, inlen) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // RFC 7301 3.2: no_application_protocol
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::on_status(SSL* ssl, void* arg) {
  const auto* der = static_cast<const std::string*>(arg);
  // OpenSSL frees the copy it is given.
  auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(der->size()));
  if (!copy) return SSL_TLSEXT_ERR_NOACK;
  std::memcpy(copy, der->data(), der->size());
  SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der->size()));
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace gateway::tls
