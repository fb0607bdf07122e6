#pragma once
// RAII owners for OpenSSL handles, one alias per type: no *_free call by hand anywhere else
// (STYLE.md rule 11), and OsslError() to turn OpenSSL's error queue into a Status.

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string_view>

#include "common/status.h"

namespace coffre::crypto {

template <auto FreeFn>
struct OsslFree {
  template <typename T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, OsslFree<EVP_CIPHER_CTX_free>>;
using EvpPkey = std::unique_ptr<EVP_PKEY, OsslFree<EVP_PKEY_free>>;
using EvpPkeyCtx = std::unique_ptr<EVP_PKEY_CTX, OsslFree<EVP_PKEY_CTX_free>>;
using EvpMdCtx = std::unique_ptr<EVP_MD_CTX, OsslFree<EVP_MD_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, OsslFree<X509_free>>;
using X509NamePtr = std::unique_ptr<X509_NAME, OsslFree<X509_NAME_free>>;
using X509ExtensionPtr = std::unique_ptr<X509_EXTENSION, OsslFree<X509_EXTENSION_free>>;
using BioPtr = std::unique_ptr<BIO, OsslFree<BIO_free_all>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, OsslFree<ASN1_INTEGER_free>>;
using BignumPtr = std::unique_ptr<BIGNUM, OsslFree<BN_free>>;

// Status of `code` whose message is `what` plus the newest OpenSSL error; clears the queue.
// OpenSSL's messages name functions and reasons, never key bytes.
Status OsslError(std::string_view what, StatusCode code = StatusCode::kInternal);

}  // namespace coffre::crypto
