#include "upstreams/tls.hpp"

#include <boost/asio/ip/address.hpp>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/file.hpp"
#include "upstreams/client.hpp"
#include "upstreams/group.hpp"
#include "upstreams/membership.hpp"

namespace gateway::upstreams {

namespace {
constexpr std::string_view kAlpnHttp11 = "\x08http/1.1";
}  // namespace

net::SslSessionPtr SessionSlot::get() const {
  std::lock_guard lock(mu_);
  if (!session_ || SSL_SESSION_up_ref(session_.get()) != 1) return nullptr;
  return net::SslSessionPtr(session_.get());
}

void SessionSlot::put(SSL_SESSION* session) {
  if (SSL_SESSION_up_ref(session) != 1) return;
  net::SslSessionPtr kept(session);
  std::lock_guard lock(mu_);
  session_.swap(kept);  // the old one is freed after the lock, with `kept`
}

std::shared_ptr<const ClientTlsContext> ClientTlsContext::build(const TlsClientConfig& config,
                                                                std::vector<Problem>& problems) {
  std::shared_ptr<ClientTlsContext> self(new ClientTlsContext());
  self->config_ = config;
  self->config_.context.reset();
  const auto before = problems.size();
  ERR_clear_error();
  self->ctx_.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = self->ctx_.get();
  if (!ctx) {
    problems.push_back({net::CertFile::cert, "cannot create a TLS context: " + net::drain_errors()});
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_protos(ctx, reinterpret_cast<const unsigned char*>(kAlpnHttp11.data()),
                          static_cast<unsigned int>(kAlpnHttp11.size()));
  // Sessions go to the instance's slot (on_new_session), not to a cache
  // OpenSSL would never consult for a client.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, &ClientTlsContext::on_new_session);

  if (config.verify) SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!config.ca.empty()) {
    auto file = read_whole_file(config.ca);
    if (!file.bytes) {
      problems.push_back({net::CertFile::ca, "cannot read CA file " + config.ca + ": " + file.error});
    } else if (SSL_CTX_load_verify_file(ctx, config.ca.c_str()) != 1) {
      ERR_clear_error();
      problems.push_back({net::CertFile::ca, "no PEM certificate in CA file " + config.ca});
    }
  } else if (config.verify && SSL_CTX_set_default_verify_paths(ctx) != 1) {
    problems.push_back({net::CertFile::ca, "cannot load the system's CA certificates: " + net::drain_errors()});
  }
  if (!config.cert.empty()) {
    if (auto p = net::use_certificate_and_key(ctx, config.cert, config.key))
      problems.push_back({p->file, std::move(p->message)});
  }
  if (problems.size() != before) return nullptr;
  return self;
}

SessionSlot& ClientTlsContext::session(const std::string& address) const {
  std::lock_guard lock(mu_);
  auto& slot = sessions_[address];
  if (!slot) slot = std::make_unique<SessionSlot>();
  return *slot;
}

int ClientTlsContext::on_new_session(SSL* ssl, SSL_SESSION* session) {
  if (auto* slot = static_cast<SessionSlot*>(SSL_get_app_data(ssl))) slot->put(session);
  return 0;  // OpenSSL keeps (and drops) its own reference
}

std::optional<TlsTarget> tls_target(const std::optional<TlsClientConfig>& tls, const Endpoint& address) {
  if (!tls || !tls->context) return std::nullopt;
  TlsTarget t;
  t.context = tls->context;
  const bool ip = is_ip_literal(address.host);
  t.server_name = !tls->sni.empty() ? tls->sni : ip ? std::string() : address.host;
  if (tls->verify) t.verify_name = !tls->sni.empty() ? tls->sni : address.host;
  t.session = &tls->context->session(address.text);
  return t;
}

void count_connection(PoolStats& stats, const Connection& connection) noexcept {
  PoolStats::inc(stats.opened);
  if (!connection.tls()) return;
  PoolStats::inc(stats.tls_handshakes);
  if (connection.tls_resumed()) PoolStats::inc(stats.tls_resumed);
}

boost::asio::awaitable<boost::system::error_code> client_handshake(net::Stream& stream, const TlsTarget& target) {
  if (auto ec = stream.start_tls(target.context->context(), net::Stream::Role::client)) co_return ec;
  SSL* ssl = stream.ssl();
  if (!target.server_name.empty()) SSL_set_tlsext_host_name(ssl, target.server_name.c_str());
  if (!target.verify_name.empty()) {
    if (is_ip_literal(target.verify_name)) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), target.verify_name.c_str());
    } else {
      SSL_set1_host(ssl, target.verify_name.c_str());
    }
  }
  if (target.session) {
    if (auto kept = target.session->get()) SSL_set_session(ssl, kept.get());
    SSL_set_app_data(ssl, target.session);
  }
  co_return co_await stream.handshake();
}

}  // namespace gateway::upstreams
