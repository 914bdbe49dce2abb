#include "net/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <boost/asio/ip/address.hpp>
#include <sstream>

namespace berth::net {
namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_error(const boost::system::error_code& ec) {
  std::string message = ec.message();
  if (unsigned long code = ERR_get_error(); code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    message = buffer;
  }
  ERR_clear_error();
  return message;
}

Status add_ca_bundle(ssl::context& context, const std::string& pem, const char* what) {
  boost::system::error_code ec;
  context.add_certificate_authority(boost::asio::buffer(pem), ec);
  if (ec) return Status::InvalidArgument(std::string(what) + ": " + openssl_error(ec));
  // add_certificate_authority stops after the first certificate of some bundles; load the rest.
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509_STORE* store = SSL_CTX_get_cert_store(context.native_handle());
  while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store, cert);  // duplicates are ignored
    X509_free(cert);
  }
  BIO_free(bio);
  ERR_clear_error();
  return Status::Ok();
}

}  // namespace

StatusOr<std::string> read_file(const std::string& path) {
  return read_regular_file(path, kMaxPemFileBytes);
}

StatusOr<std::shared_ptr<ssl::context>> make_server_tls_context(const TlsServerConfig& config) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  boost::system::error_code ec;
  context->use_certificate_chain(boost::asio::buffer(config.cert_pem), ec);
  if (ec) return Status::InvalidArgument("server certificate: " + openssl_error(ec));
  context->use_private_key(boost::asio::buffer(config.key_pem), ssl::context::pem, ec);
  if (ec) return Status::InvalidArgument("server key: " + openssl_error(ec));
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("server key does not match the certificate");
  }
  if (!config.client_ca_pem.empty()) {
    if (Status s = add_ca_bundle(*context, config.client_ca_pem, "client CA"); !s.ok()) return s;
    context->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else {
    context->set_verify_mode(ssl::verify_none);
  }
  return context;
}

StatusOr<std::shared_ptr<ssl::context>> make_server_tls_context_from_files(
    const std::string& cert_file, const std::string& key_file, const std::string& client_ca_file) {
  TlsServerConfig config;
  auto cert = read_file(cert_file);
  if (!cert.ok()) return cert.status();
  auto key = read_file(key_file);
  if (!key.ok()) return key.status();
  config.cert_pem = std::move(*cert);
  config.key_pem = std::move(*key);
  if (!client_ca_file.empty()) {
    auto ca = read_file(client_ca_file);
    if (!ca.ok()) return ca.status();
    config.client_ca_pem = std::move(*ca);
  }
  return make_server_tls_context(config);
}

StatusOr<std::shared_ptr<ssl::context>> make_client_tls_context(const TlsClientConfig& config) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (config.insecure_skip_verify) {
    context->set_verify_mode(ssl::verify_none);
  } else {
    context->set_verify_mode(ssl::verify_peer);
    if (config.ca_pem.empty()) {
      context->set_default_verify_paths(ec);
      if (ec) return Status::InvalidArgument("system CA roots: " + openssl_error(ec));
    } else if (Status s = add_ca_bundle(*context, config.ca_pem, "CA bundle"); !s.ok()) {
      return s;
    }
  }
  if (!config.cert_pem.empty() || !config.key_pem.empty()) {
    context->use_certificate_chain(boost::asio::buffer(config.cert_pem), ec);
    if (ec) return Status::InvalidArgument("client certificate: " + openssl_error(ec));
    context->use_private_key(boost::asio::buffer(config.key_pem), ssl::context::pem, ec);
    if (ec) return Status::InvalidArgument("client key: " + openssl_error(ec));
    if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
      ERR_clear_error();
      return Status::InvalidArgument("client key does not match the certificate");
    }
  }
  return context;
}

Status set_client_server_name(SSL* ssl, const std::string& host, bool verify) {
  boost::system::error_code ec;
  const auto ip = boost::asio::ip::make_address(host, ec);
  const bool is_ip = !ec;
  // SNI carries DNS names only (RFC 6066).
  if (!is_ip && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("cannot set TLS server name " + host);
  }
  if (!verify) return Status::Ok();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  const int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, ip.to_string().c_str())
                       : X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size());
  if (ok != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("cannot set TLS verification name " + host);
  }
  return Status::Ok();
}

std::string peer_certificate_subject(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert == nullptr) return {};
  std::string subject;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    if (size > 0) subject.assign(data, static_cast<std::size_t>(size));
    BIO_free(bio);
  }
  X509_free(cert);
  return subject;
}

}  // namespace berth::net
