#include "base/net/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "base/file.hpp"

namespace gateway::net {

namespace {

class TlsCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tls"; }
  std::string message(int ev) const override {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ev));
    if (reason) return reason;
    char buf[256];
    ERR_error_string_n(static_cast<unsigned long>(ev), buf, sizeof buf);
    return buf;
  }
};

class VerifyCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tls-verify"; }
  std::string message(int ev) const override {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(ev);
  }
};

struct BioFree {
  void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr memory_bio(const std::string& bytes) {
  return BioPtr(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
}

// A password callback that has none: an encrypted key fails to load
// instead of prompting on the terminal.
int no_password(char*, int, int, void*) { return 0; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

const boost::system::error_category& tls_category() noexcept {
  static const TlsCategory category;
  return category;
}

const boost::system::error_category& verify_category() noexcept {
  static const VerifyCategory category;
  return category;
}

boost::system::error_code last_tls_error(boost::system::error_code fallback) noexcept {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return fallback;
  return {static_cast<int>(e), tls_category()};
}

std::string drain_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    char buf[256];
    if (!reason) {
      ERR_error_string_n(e, buf, sizeof buf);
      reason = buf;
    }
    if (!out.empty()) out += "; ";
    out += reason;
  }
  return out;
}

int openssl_version(TlsVersion v) noexcept { return v == TlsVersion::tls1_2 ? TLS1_2_VERSION : TLS1_3_VERSION; }

std::optional<CertProblem> use_certificate_and_key(SSL_CTX* ctx, const std::string& cert, const std::string& key) {
  ERR_clear_error();
  auto cert_bytes = read_whole_file(cert);
  if (!cert_bytes.bytes) return CertProblem{CertFile::cert, "cannot read certificate " + cert + ": " + cert_bytes.error};
  auto bio = memory_bio(*cert_bytes.bytes);
  X509Ptr leaf(PEM_read_bio_X509_AUX(bio.get(), nullptr, no_password, nullptr));
  if (!leaf) {
    ERR_clear_error();
    return CertProblem{CertFile::cert, "no PEM certificate in " + cert};
  }
  // The rest of the file: the chain up to (not including) the root.
  std::vector<X509Ptr> chain;
  while (X509* next = PEM_read_bio_X509(bio.get(), nullptr, no_password, nullptr)) chain.emplace_back(next);
  ERR_clear_error();  // the end of the file reads as "no start line"

  auto key_bytes = read_whole_file(key);
  if (!key_bytes.bytes) return CertProblem{CertFile::key, "cannot read private key " + key + ": " + key_bytes.error};
  auto key_bio = memory_bio(*key_bytes.bytes);
  PkeyPtr pkey(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, no_password, nullptr));
  if (!pkey) {
    ERR_clear_error();
    return CertProblem{CertFile::key, "no PEM private key in " + key + " (an encrypted key is not supported)"};
  }
  if (X509_check_private_key(leaf.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return CertProblem{CertFile::key, "private key " + key + " does not match certificate " + cert};
  }
  if (SSL_CTX_use_certificate(ctx, leaf.get()) != 1)
    return CertProblem{CertFile::cert, "certificate " + cert + " refused: " + drain_errors()};
  for (auto& c : chain) {
    if (SSL_CTX_add0_chain_cert(ctx, c.get()) != 1)
      return CertProblem{CertFile::cert, "chain of " + cert + " refused: " + drain_errors()};
    c.release();  // owned by the context now
  }
  if (SSL_CTX_use_PrivateKey(ctx, pkey.get()) != 1)
    return CertProblem{CertFile::key, "private key " + key + " refused: " + drain_errors()};
  return std::nullopt;
}

std::vector<std::string> certificate_names(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_DNS) continue;
      const ASN1_IA5STRING* s = n->d.dNSName;
      names.push_back(lowercase({reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                 static_cast<std::size_t>(ASN1_STRING_length(s))}));
    }
    GENERAL_NAMES_free(sans);
  }
  if (!names.empty()) return names;
  X509_NAME* subject = X509_get_subject_name(cert);
  int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at >= 0) {
    const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    names.push_back(lowercase({reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                               static_cast<std::size_t>(ASN1_STRING_length(s))}));
  }
  return names;
}

std::string alpn_wire(const std::vector<std::string_view>& protocols) {
  std::string out;
  for (auto p : protocols) {
    out.push_back(static_cast<char>(p.size()));
    out.append(p);
  }
  return out;
}

}  // namespace gateway::net
