#pragma once
// A throw-away certificate authority for TLS tests: a CA, a server certificate for 127.0.0.1 /
// localhost (plus extra DNS names) and a client certificate, all as PEM text, made in memory
// with OpenSSL (EC P-256, valid from an hour ago for a day). Test-only.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

namespace berth::net::testing {

struct TestCert {
  std::string cert_pem;
  std::string key_pem;
};

struct TestPki {
  TestCert ca;
  TestCert server;
  TestCert client;
};

namespace detail {

inline std::string pem_of(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return out;
}

inline std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return out;
}

inline void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str());
  if (extension != nullptr) {
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
  }
}

// Issues a certificate for `common_name`; self-signed when issuer is null.
inline X509* issue(EVP_PKEY* key, const std::string& common_name, X509* issuer, EVP_PKEY* issuer_key,
                   long serial, bool is_ca, const std::string& alt_names) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert;
  X509_set_issuer_name(cert, X509_get_subject_name(signer));
  add_extension(cert, signer, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (is_ca) add_extension(cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  if (!alt_names.empty()) add_extension(cert, signer, NID_subject_alt_name, alt_names);
  X509_sign(cert, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return cert;
}

}  // namespace detail

// `dns_names` are added to the server certificate besides localhost and 127.0.0.1.
inline TestPki make_test_pki(const std::vector<std::string>& dns_names = {},
                             const std::string& client_common_name = "test-client") {
  TestPki pki;
  EVP_PKEY* ca_key = EVP_EC_gen("P-256");
  X509* ca = detail::issue(ca_key, "berth test CA", nullptr, nullptr, 1, true, "");
  pki.ca = {detail::pem_of(ca), detail::pem_of(ca_key)};

  std::string alt = "DNS:localhost,IP:127.0.0.1";
  for (const auto& name : dns_names) alt += ",DNS:" + name;
  EVP_PKEY* server_key = EVP_EC_gen("P-256");
  X509* server = detail::issue(server_key, "berth test server", ca, ca_key, 2, false, alt);
  pki.server = {detail::pem_of(server), detail::pem_of(server_key)};

  EVP_PKEY* client_key = EVP_EC_gen("P-256");
  X509* client = detail::issue(client_key, client_common_name, ca, ca_key, 3, false, "");
  pki.client = {detail::pem_of(client), detail::pem_of(client_key)};

  X509_free(client);
  EVP_PKEY_free(client_key);
  X509_free(server);
  EVP_PKEY_free(server_key);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
  return pki;
}

}  // namespace berth::net::testing
