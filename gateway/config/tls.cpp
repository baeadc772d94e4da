// The `tls:` blocks: a listener's (its certificates, chosen by SNI;
// protocols; ciphers; session tickets) and an upstream group's (whether and
// against which CAs to verify, the name to send and check, a client
// certificate). The files they name are read and the OpenSSL contexts built
// here, at load, so `--check` and a reload report a missing file, a file
// without PEM in it or a key that does not match its certificate, each at
// the YAML field that names the file. The other sections are listed in
// sections.hpp.
#include <optional>

#include "gateway/config/sections.hpp"
#include "gateway/tls.hpp"
#include "upstreams/tls.hpp"

namespace gateway::config {

namespace {

constexpr std::pair<std::string_view, net::TlsVersion> kVersions[] = {
    {"TLSv1.2", net::TlsVersion::tls1_2},
    {"TLSv1.3", net::TlsVersion::tls1_3},
};

// The fields of one certificate entry, to blame its files.
struct CertificateFields {
  std::optional<Field> cert, key, ocsp;
};

std::optional<std::string> read_path(Context& ctx, const Field* field) {
  if (field == nullptr) return std::nullopt;
  auto text = read_string(ctx.diag, *field);
  if (!text) return std::nullopt;
  return resolve_path(ctx, *text).string();
}

// `certificates: [{cert: FILE, key: FILE, ocsp: FILE}, ...]`: at least one.
void read_certificates(Context& ctx, const Field& field, TlsConfig& tls, std::vector<CertificateFields>& fields) {
  if (!expect_type(ctx.diag, field, YAML::NodeType::Sequence)) return;
  auto items = sequence_items(field);
  if (items.empty()) {
    ctx.diag.error(field, "must list at least one certificate");
    return;
  }
  for (const auto& item : items) {
    MapReader map(ctx.diag, item, {"cert", "key", "ocsp"});
    if (!map.valid()) continue;
    auto cert = read_path(ctx, map.require("cert"));
    auto key = read_path(ctx, map.require("key"));
    auto ocsp = read_path(ctx, map.get("ocsp"));
    if (!cert || !key || (map.get("ocsp") && !ocsp)) continue;
    tls.certificates.push_back({*cert, *key, ocsp.value_or("")});
    CertificateFields f;
    f.cert = *map.get("cert");
    f.key = *map.get("key");
    if (const Field* o = map.get("ocsp")) f.ocsp = *o;
    fields.push_back(std::move(f));
  }
}

// `protocols: [TLSv1.2, TLSv1.3]` (or one of them): the range between the
// lowest and the highest named.
void read_protocols(Context& ctx, const Field& field, TlsConfig& tls) {
  auto items = one_or_list(ctx.diag, field);
  if (field.node.IsSequence() && items.empty()) ctx.diag.error(field, "must list at least one protocol");
  std::optional<net::TlsVersion> low, high;
  for (const auto& item : items) {
    auto v = read_choice(ctx.diag, item, Choices<net::TlsVersion>(kVersions));
    if (!v) continue;
    if (!low || *v < *low) low = v;
    if (!high || *v > *high) high = v;
  }
  if (low) {
    tls.min_version = *low;
    tls.max_version = *high;
  }
}

// Every problem building the context, at the field it is about.
void report(Context& ctx, const Field& block, const MapReader& map, const std::vector<CertificateFields>& certs,
            const std::vector<tls::Problem>& problems) {
  for (const auto& p : problems) {
    const Field* blame = &block;
    if (p.where == tls::Problem::Where::certificate && p.certificate < certs.size()) {
      const auto& f = certs[p.certificate];
      const auto& which = p.file == net::CertFile::key ? f.key : p.file == net::CertFile::ocsp ? f.ocsp : f.cert;
      if (which) blame = &*which;
    } else if (p.where == tls::Problem::Where::ciphers && map.get("ciphers")) {
      blame = map.get("ciphers");
    } else if (p.where == tls::Problem::Where::ciphersuites && map.get("ciphersuites")) {
      blame = map.get("ciphersuites");
    }
    ctx.diag.error(*blame, p.message);
  }
}

// `sni: NAME`: a DNS name, as a certificate would carry it.
bool valid_server_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
  });
}

void read_client_cert(Context& ctx, const Field& field, upstreams::TlsClientConfig& tls,
                      std::optional<Field>& cert_field, std::optional<Field>& key_field) {
  MapReader map(ctx.diag, field, {"cert", "key"});
  if (!map.valid()) return;
  auto cert = read_path(ctx, map.require("cert"));
  auto key = read_path(ctx, map.require("key"));
  if (!cert || !key) return;
  tls.cert = *cert;
  tls.key = *key;
  cert_field = *map.get("cert");
  key_field = *map.get("key");
}

}  // namespace

void read_server_tls(Context& ctx, const Field& field, std::string_view listener, TlsConfig& tls) {
  const auto errors_before = ctx.diag.count();
  MapReader map(ctx.diag, field, {"certificates", "protocols", "ciphers", "ciphersuites", "session_tickets",
                                 "tickets_per_handshake"});
  if (!map.valid()) return;
  std::vector<CertificateFields> certs;
  if (const Field* f = map.require("certificates")) read_certificates(ctx, *f, tls, certs);
  if (const Field* f = map.get("protocols")) read_protocols(ctx, *f, tls);
  map.read_string("ciphers", tls.ciphers);
  map.read_string("ciphersuites", tls.ciphersuites);
  map.read_bool("session_tickets", tls.session_tickets);
  map.read_int("tickets_per_handshake", tls.tickets_per_handshake, 1, 8);
  if (ctx.diag.count() != errors_before || tls.certificates.empty()) return;

  std::vector<tls::Problem> problems;
  tls.context = tls::ServerContext::build(tls, listener, problems);
  report(ctx, field, map, certs, problems);
}

void read_upstream_tls(Context& ctx, const Field& field, upstreams::TlsClientConfig& tls) {
  const auto errors_before = ctx.diag.count();
  MapReader map(ctx.diag, field, {"verify", "ca", "sni", "client_cert"});
  if (!map.valid()) return;
  map.read_bool("verify", tls.verify);
  std::optional<Field> ca_field, cert_field, key_field;
  if (const Field* ca = map.get("ca")) {
    if (auto path = read_path(ctx, ca)) {
      tls.ca = *path;
      ca_field = *ca;
    }
  }
  if (const Field* sni = map.get("sni")) {
    if (auto name = read_string(ctx.diag, *sni)) {
      if (valid_server_name(*name)) tls.sni = *name;
      else ctx.diag.error(*sni, "invalid server name " + quote(*name) + " (letters, digits, '-', '.')");
    }
  }
  if (const Field* cc = map.get("client_cert")) read_client_cert(ctx, *cc, tls, cert_field, key_field);
  if (ctx.diag.count() != errors_before) return;

  std::vector<upstreams::ClientTlsContext::Problem> problems;
  tls.context = upstreams::ClientTlsContext::build(tls, problems);
  for (const auto& p : problems) {
    const auto& which = p.file == net::CertFile::ca ? ca_field : p.file == net::CertFile::key ? key_field : cert_field;
    ctx.diag.error(which ? *which : field, p.message);
  }
}

}  // namespace gateway::config
