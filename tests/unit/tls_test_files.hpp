// Certificates for unit tests, made in memory with OpenSSL (EC P-256, one
// day): a self-signed one or one signed by a test CA, for the names given
// (subjectAltName DNS entries; the first is also the common name). Nothing
// is kept on disk unless a test writes it to its temporary directory.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace gateway::testing {

struct TestCert {
  std::string cert_pem;
  std::string key_pem;
};

namespace detail {

inline std::string to_pem(int (*write)(BIO*, void*), void* object) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio, object);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

inline int write_cert(BIO* b, void* x) { return PEM_write_bio_X509(b, static_cast<X509*>(x)); }
inline int write_key(BIO* b, void* k) {
  return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY*>(k), nullptr, nullptr, 0, nullptr, nullptr);
}

inline X509* read_cert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return x;
}

inline EVP_PKEY* read_key(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  return k;
}

inline void add_extension(X509* x, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("bad test certificate extension " + value);
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
}

}  // namespace detail

// `names` empty: a CA ("Test CA"). `issuer` null: self-signed.
inline TestCert make_cert(const std::vector<std::string>& names, const TestCert* issuer = nullptr) {
  static long serial = 1;
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  std::string cn = names.empty() ? "Test CA" : names.front();
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* issuer_cert = issuer ? detail::read_cert(issuer->cert_pem) : nullptr;
  EVP_PKEY* issuer_key = issuer ? detail::read_key(issuer->key_pem) : key;
  X509_set_issuer_name(x, issuer_cert ? X509_get_subject_name(issuer_cert) : X509_get_subject_name(x));
  if (names.empty()) {
    detail::add_extension(x, issuer_cert ? issuer_cert : x, NID_basic_constraints, "critical,CA:TRUE");
    detail::add_extension(x, issuer_cert ? issuer_cert : x, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    std::string san;
    for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
    detail::add_extension(x, issuer_cert ? issuer_cert : x, NID_basic_constraints, "critical,CA:FALSE");
    detail::add_extension(x, issuer_cert ? issuer_cert : x, NID_subject_alt_name, san);
  }
  X509_sign(x, issuer_key, EVP_sha256());
  TestCert out{detail::to_pem(&detail::write_cert, x), detail::to_pem(&detail::write_key, key)};
  if (issuer) {
    X509_free(issuer_cert);
    EVP_PKEY_free(issuer_key);
  }
  X509_free(x);
  EVP_PKEY_free(key);
  return out;
}

}  // namespace gateway::testing
