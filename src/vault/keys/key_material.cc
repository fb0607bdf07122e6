#include "vault/keys/key_material.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/aes_key_wrap.h"
#include "crypto/ossl.h"

namespace coffre::vault {
namespace {

using crypto::EvpPkey;
using crypto::EvpPkeyCtx;
using crypto::SecretBytes;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, crypto::OsslFree<OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, crypto::OsslFree<OSSL_PARAM_free>>;

Bytes BnBytes(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) return {};
  crypto::BignumPtr owned(bn);
  Bytes out(static_cast<size_t>(BN_num_bytes(bn)));
  BN_bn2bin(bn, AsUChars(MutableByteSpan(out)));
  return out;
}

Result<KeyMaterial> FromPkey(EVP_PKEY* pkey) {
  int len = i2d_PrivateKey(pkey, nullptr);
  if (len <= 0) return crypto::OsslError("encode RSA key");
  KeyMaterial m;
  m.kind = KeyKind::kRsa;
  m.bits = EVP_PKEY_get_bits(pkey);
  COFFRE_ASSIGN_OR_RETURN(m.secret, SecretBytes::Allocate(static_cast<size_t>(len)));
  unsigned char* p = AsUChars(m.secret.RevealMutable());
  if (i2d_PrivateKey(pkey, &p) != len) return crypto::OsslError("encode RSA key");
  m.n = BnBytes(pkey, OSSL_PKEY_PARAM_RSA_N);
  m.e = BnBytes(pkey, OSSL_PKEY_PARAM_RSA_E);
  return m;
}

Result<EvpPkey> ParseRsa(const KeyMaterial& key) {
  const unsigned char* p = AsUChars(key.secret.Reveal());
  EvpPkey pkey(d2i_PrivateKey(EVP_PKEY_RSA, nullptr, &p, static_cast<long>(key.secret.size())));
  if (!pkey) return crypto::OsslError("decode stored RSA key", StatusCode::kDataLoss);
  return pkey;
}

// The public key alone, from n and e: wrapKey and encrypt never touch the private key.
Result<EvpPkey> RsaPublicKey(const KeyMaterial& key) {
  ParamBld bld(OSSL_PARAM_BLD_new());
  crypto::BignumPtr n(BN_bin2bn(AsUChars(ByteSpan(key.n)), static_cast<int>(key.n.size()), nullptr));
  crypto::BignumPtr e(BN_bin2bn(AsUChars(ByteSpan(key.e)), static_cast<int>(key.e.size()), nullptr));
  bool ok = bld && n && e && OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) == 1 &&
            OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) == 1;
  Params params(ok ? OSSL_PARAM_BLD_to_param(bld.get()) : nullptr);
  EvpPkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return crypto::OsslError("RSA public key", StatusCode::kDataLoss);
  }
  return EvpPkey(raw);
}

const EVP_MD* OaepDigest(std::string_view alg) {
  if (alg == "RSA-OAEP") return EVP_sha1();
  if (alg == "RSA-OAEP-256") return EVP_sha256();
  return nullptr;
}

Result<EvpPkeyCtx> OaepContext(EVP_PKEY* pkey, std::string_view alg, bool encrypt) {
  EvpPkeyCtx ctx(EVP_PKEY_CTX_new(pkey, nullptr));
  const EVP_MD* md = OaepDigest(alg);
  if (!ctx || (encrypt ? EVP_PKEY_encrypt_init(ctx.get()) : EVP_PKEY_decrypt_init(ctx.get())) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) != 1 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1) {
    return crypto::OsslError("RSA-OAEP setup");
  }
  return ctx;
}

// A128KW, A192KW, A256KW for an oct key of that size; RSA-OAEP(-256) for RSA keys.
Status CheckAlgorithm(const KeyMaterial& key, std::string_view alg) {
  if (key.kind == KeyKind::kOct) {
    if (!IsKeyWrapAlgorithm(alg) || std::stoi(std::string(alg.substr(1, 3))) != key.bits) {
      return InvalidArgument("algorithm " + std::string(alg) + " does not fit this " +
                             std::to_string(key.bits) + "-bit oct key");
    }
    return Status::Ok();
  }
  if (!IsRsaAlgorithm(alg)) {
    return InvalidArgument("algorithm " + std::string(alg) + " is not supported for RSA keys");
  }
  return Status::Ok();
}

}  // namespace

Status DecryptFailed() {
  return InvalidArgument("The ciphertext could not be decrypted with this key and algorithm.");
}

bool IsRsaAlgorithm(std::string_view alg) { return OaepDigest(alg) != nullptr; }
bool IsKeyWrapAlgorithm(std::string_view alg) {
  return alg == "A128KW" || alg == "A192KW" || alg == "A256KW";
}

Result<KeyMaterial> GenerateRsa(int bits, uint32_t public_exponent) {
  if (bits != 2048 && bits != 3072 && bits != 4096) {
    return InvalidArgument("RSA key_size must be 2048, 3072 or 4096");
  }
  if (public_exponent != 65537) return InvalidArgument("public_exponent must be 65537");
  EvpPkey pkey(EVP_RSA_gen(static_cast<unsigned>(bits)));
  if (!pkey) return crypto::OsslError("generate RSA key");
  return FromPkey(pkey.get());
}

Result<KeyMaterial> GenerateOct(int bits) {
  if (bits != 128 && bits != 192 && bits != 256) {
    return InvalidArgument("oct key_size must be 128, 192 or 256");
  }
  KeyMaterial m;
  m.kind = KeyKind::kOct;
  m.bits = bits;
  COFFRE_ASSIGN_OR_RETURN(m.secret, SecretBytes::Random(static_cast<size_t>(bits / 8)));
  return m;
}

Result<KeyMaterial> ImportOct(ByteSpan k) {
  if (k.size() != 16 && k.size() != 24 && k.size() != 32) {
    return InvalidArgument("an oct key must be 128, 192 or 256 bits");
  }
  KeyMaterial m;
  m.kind = KeyKind::kOct;
  m.bits = static_cast<int>(k.size() * 8);
  COFFRE_ASSIGN_OR_RETURN(m.secret, SecretBytes::CopyOf(k));
  return m;
}

Result<KeyMaterial> ImportRsa(const RsaPrivateParts& parts) {
  if (parts.n.empty() || parts.e.empty() || parts.d.empty() || parts.p.empty() ||
      parts.q.empty() || parts.dp.empty() || parts.dq.empty() || parts.qi.empty()) {
    return InvalidArgument("an RSA key to import needs n, e, d, p, q, dp, dq and qi");
  }
  size_t bits = parts.n.size() * 8;
  if (bits != 2048 && bits != 3072 && bits != 4096) {
    return InvalidArgument("an imported RSA key must be 2048, 3072 or 4096 bits");
  }
  ParamBld bld(OSSL_PARAM_BLD_new());
  std::vector<crypto::BignumPtr> bns;
  auto push = [&](const char* name, const Bytes& b) {
    if (b.empty()) return true;
    bns.emplace_back(BN_bin2bn(AsUChars(ByteSpan(b)), static_cast<int>(b.size()), nullptr));
    return bns.back() && OSSL_PARAM_BLD_push_BN(bld.get(), name, bns.back().get()) == 1;
  };
  bool ok = bld && push(OSSL_PKEY_PARAM_RSA_N, parts.n) && push(OSSL_PKEY_PARAM_RSA_E, parts.e) &&
            push(OSSL_PKEY_PARAM_RSA_D, parts.d) && push(OSSL_PKEY_PARAM_RSA_FACTOR1, parts.p) &&
            push(OSSL_PKEY_PARAM_RSA_FACTOR2, parts.q) &&
            push(OSSL_PKEY_PARAM_RSA_EXPONENT1, parts.dp) &&
            push(OSSL_PKEY_PARAM_RSA_EXPONENT2, parts.dq) &&
            push(OSSL_PKEY_PARAM_RSA_COEFFICIENT1, parts.qi);
  Params params(ok ? OSSL_PARAM_BLD_to_param(bld.get()) : nullptr);
  EvpPkeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    ERR_clear_error();
    return InvalidArgument("the RSA key to import is malformed");
  }
  EvpPkey pkey(raw);
  EvpPkeyCtx check(EVP_PKEY_CTX_new(pkey.get(), nullptr));
  if (!check || EVP_PKEY_pairwise_check(check.get()) != 1) {
    ERR_clear_error();
    return InvalidArgument("the RSA key to import is inconsistent (n, d, p, q do not match)");
  }
  return FromPkey(pkey.get());
}

Result<Bytes> Encrypt(const KeyMaterial& key, std::string_view alg, ByteSpan plaintext) {
  COFFRE_RETURN_IF_ERROR(CheckAlgorithm(key, alg));
  if (key.kind == KeyKind::kOct) return crypto::AesKeyWrap(key.secret.Reveal(), plaintext);
  COFFRE_ASSIGN_OR_RETURN(EvpPkey pkey, RsaPublicKey(key));
  COFFRE_ASSIGN_OR_RETURN(EvpPkeyCtx ctx, OaepContext(pkey.get(), alg, true));
  size_t out_len = 0;
  if (EVP_PKEY_encrypt(ctx.get(), nullptr, &out_len, AsUChars(plaintext), plaintext.size()) != 1) {
    return crypto::OsslError("RSA encrypt");
  }
  Bytes out(out_len);
  if (EVP_PKEY_encrypt(ctx.get(), AsUChars(MutableByteSpan(out)), &out_len, AsUChars(plaintext),
                       plaintext.size()) != 1) {
    ERR_clear_error();
    return InvalidArgument("the value is too long for " + std::string(alg) + " with this key");
  }
  out.resize(out_len);
  return out;
}

Result<Bytes> Decrypt(const KeyMaterial& key, std::string_view alg, ByteSpan ciphertext) {
  COFFRE_RETURN_IF_ERROR(CheckAlgorithm(key, alg));
  if (key.kind == KeyKind::kOct) {
    Result<SecretBytes> out = crypto::AesKeyUnwrap(key.secret.Reveal(), ciphertext);
    if (!out.has_value()) return DecryptFailed();
    return Bytes(out->Reveal().begin(), out->Reveal().end());
  }
  COFFRE_ASSIGN_OR_RETURN(EvpPkey pkey, ParseRsa(key));
  COFFRE_ASSIGN_OR_RETURN(EvpPkeyCtx ctx, OaepContext(pkey.get(), alg, false));
  size_t out_len = static_cast<size_t>(EVP_PKEY_get_size(pkey.get()));
  Bytes out(out_len);
  if (EVP_PKEY_decrypt(ctx.get(), AsUChars(MutableByteSpan(out)), &out_len, AsUChars(ciphertext),
                       ciphertext.size()) != 1) {
    ERR_clear_error();
    return DecryptFailed();
  }
  out.resize(out_len);
  return out;
}

}  // namespace coffre::vault
