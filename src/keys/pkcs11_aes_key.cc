#include "keys/pkcs11_aes_key.h"

#include <vector>

#include "keys/pkcs11_error.h"

namespace coffre::keys {
namespace {

constexpr CK_BBOOL kTrue = CK_TRUE;
constexpr CK_BBOOL kFalse = CK_FALSE;

// PKCS#11 templates point at their values; these helpers keep that in one place. A module
// never writes through the template of C_FindObjectsInit or C_GenerateKey: the casts only meet
// their C signatures.
CK_ATTRIBUTE Attr(CK_ATTRIBUTE_TYPE type, void* value, CK_ULONG size) {
  return CK_ATTRIBUTE{type, value, size};
}
CK_ATTRIBUTE Flag(CK_ATTRIBUTE_TYPE type, bool on) {
  return Attr(type, const_cast<CK_BBOOL*>(on ? &kTrue : &kFalse), sizeof(CK_BBOOL));
}
CK_ATTRIBUTE Label(std::string_view label) {
  return Attr(CKA_LABEL, const_cast<char*>(label.data()), label.size());
}

// The GCM parameters for one call; `iv` and `aad` must outlive the mechanism that points here.
CK_GCM_PARAMS GcmParams(ByteSpan iv, ByteSpan aad) {
  CK_GCM_PARAMS params{};
  params.pIv = const_cast<CK_BYTE*>(AsUChars(iv));
  params.ulIvLen = iv.size();
  params.ulIvBits = iv.size() * 8;
  params.pAAD = const_cast<CK_BYTE*>(AsUChars(aad));
  params.ulAADLen = aad.size();
  params.ulTagBits = Pkcs11AesKey::kTagSize * 8;
  return params;
}

}  // namespace

std::string Pkcs11AesKey::Describe() const {
  return "key '" + label_ + "' on " + session_->Describe();
}

Result<Pkcs11AesKey> Pkcs11AesKey::Find(Pkcs11Session& session, std::string_view label) {
  CK_FUNCTION_LIST& f = session.functions();
  std::string what = "key '" + std::string(label) + "' on " + session.Describe();
  CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
  CK_ATTRIBUTE query[] = {Attr(CKA_CLASS, &secret, sizeof secret), Flag(CKA_TOKEN, true),
                          Label(label)};
  CK_RV rv = f.C_FindObjectsInit(session.handle(), query, std::size(query));
  if (rv != CKR_OK) return Pkcs11Error("looking for the " + what, rv);
  CK_OBJECT_HANDLE found[2];
  CK_ULONG count = 0;
  rv = f.C_FindObjects(session.handle(), found, std::size(found), &count);
  CK_RV final_rv = f.C_FindObjectsFinal(session.handle());
  if (rv == CKR_OK) rv = final_rv;
  if (rv != CKR_OK) return Pkcs11Error("looking for the " + what, rv);
  if (count == 0) return NotFound("the " + what + " is missing");
  if (count > 1) return FailedPrecondition("several secret keys are labelled as the " + what);

  CK_KEY_TYPE type = 0;
  CK_ULONG size = 0;
  CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, encrypt = CK_FALSE, decrypt = CK_FALSE;
  CK_ATTRIBUTE attrs[] = {Attr(CKA_KEY_TYPE, &type, sizeof type),
                          Attr(CKA_VALUE_LEN, &size, sizeof size),
                          Attr(CKA_SENSITIVE, &sensitive, sizeof sensitive),
                          Attr(CKA_EXTRACTABLE, &extractable, sizeof extractable),
                          Attr(CKA_ENCRYPT, &encrypt, sizeof encrypt),
                          Attr(CKA_DECRYPT, &decrypt, sizeof decrypt)};
  rv = f.C_GetAttributeValue(session.handle(), found[0], attrs, std::size(attrs));
  if (rv != CKR_OK) return Pkcs11Error("reading the attributes of the " + what, rv);
  if (type != CKK_AES || size != kKeySize) {
    return FailedPrecondition("the " + what + " is not an AES-256 key");
  }
  // A key that can leave the token would let the master key be opened elsewhere.
  if (sensitive != CK_TRUE || extractable != CK_FALSE) {
    return FailedPrecondition("the " + what +
                              " is extractable or not sensitive; Coffre uses only keys that "
                              "cannot leave the token");
  }
  if (encrypt != CK_TRUE || decrypt != CK_TRUE) {
    return FailedPrecondition("the " + what + " is not allowed to encrypt and decrypt");
  }
  return Pkcs11AesKey(session, std::string(label), found[0]);
}

Result<Pkcs11AesKey> Pkcs11AesKey::Generate(Pkcs11Session& session, std::string_view label) {
  if (label.empty()) return InvalidArgument("a PKCS#11 key label cannot be empty");
  CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
  CK_KEY_TYPE aes = CKK_AES;
  CK_ULONG size = kKeySize;
  CK_ATTRIBUTE attrs[] = {
      Attr(CKA_CLASS, &secret, sizeof secret), Attr(CKA_KEY_TYPE, &aes, sizeof aes),
      Attr(CKA_VALUE_LEN, &size, sizeof size), Label(label),
      Flag(CKA_TOKEN, true),                   Flag(CKA_PRIVATE, true),
      Flag(CKA_SENSITIVE, true),               Flag(CKA_EXTRACTABLE, false),
      Flag(CKA_ENCRYPT, true),                 Flag(CKA_DECRYPT, true),
      Flag(CKA_WRAP, false),                   Flag(CKA_UNWRAP, false),
      Flag(CKA_SIGN, false),                   Flag(CKA_VERIFY, false),
      Flag(CKA_DERIVE, false)};
  CK_MECHANISM generate{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE handle = CK_INVALID_HANDLE;
  CK_RV rv = session.functions().C_GenerateKey(session.handle(), &generate, attrs,
                                               std::size(attrs), &handle);
  if (rv != CKR_OK) {
    return Pkcs11Error("generating the key '" + std::string(label) + "' on " + session.Describe(),
                       rv);
  }
  return Pkcs11AesKey(session, std::string(label), handle);
}

Result<Bytes> Pkcs11AesKey::Seal(ByteSpan iv, ByteSpan aad, ByteSpan plaintext) const {
  if (iv.size() != kIvSize) return InvalidArgument("AES-GCM on the token takes a 12-byte IV");
  CK_FUNCTION_LIST& f = session_->functions();
  CK_GCM_PARAMS params = GcmParams(iv, aad);
  CK_MECHANISM gcm{CKM_AES_GCM, &params, sizeof params};
  CK_RV rv = f.C_EncryptInit(session_->handle(), &gcm, handle_);
  if (rv != CKR_OK) return Pkcs11Error("sealing with the " + Describe() + " (CKM_AES_GCM)", rv);
  Bytes out(plaintext.size() + kTagSize);
  CK_ULONG out_size = out.size();
  rv = f.C_Encrypt(session_->handle(), const_cast<CK_BYTE*>(AsUChars(plaintext)),
                   plaintext.size(), AsUChars(MutableByteSpan(out)), &out_size);
  if (rv != CKR_OK) return Pkcs11Error("sealing with the " + Describe() + " (CKM_AES_GCM)", rv);
  if (out_size != out.size()) {
    return Internal("sealing with the " + Describe() + ": the token returned " +
                    std::to_string(out_size) + " bytes, not ciphertext and a 16-byte tag");
  }
  return out;
}

Result<crypto::SecretBytes> Pkcs11AesKey::Open(ByteSpan iv, ByteSpan aad, ByteSpan sealed) const {
  if (iv.size() != kIvSize || sealed.size() < kTagSize) {
    return InvalidArgument("AES-GCM on the token takes a 12-byte IV and a 16-byte tag");
  }
  CK_FUNCTION_LIST& f = session_->functions();
  std::string what = "opening with the " + Describe() + " (CKM_AES_GCM)";
  CK_GCM_PARAMS params = GcmParams(iv, aad);
  CK_MECHANISM gcm{CKM_AES_GCM, &params, sizeof params};
  CK_RV rv = f.C_DecryptInit(session_->handle(), &gcm, handle_);
  if (rv != CKR_OK) return Pkcs11Error(what, rv);
  // Some modules (SoftHSM) want room for the whole input, tag included, before they verify it.
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes buffer, crypto::SecretBytes::Allocate(sealed.size()));
  CK_ULONG out_size = buffer.size();
  rv = f.C_Decrypt(session_->handle(), const_cast<CK_BYTE*>(AsUChars(sealed)), sealed.size(),
                   AsUChars(buffer.RevealMutable()), &out_size);
  if (rv != CKR_OK) {
    Status s = Pkcs11Error(what, rv);
    if (s.code() != StatusCode::kInternal) return s;
    // The module's code for a tag that did not verify varies (SoftHSM: CKR_GENERAL_ERROR).
    return PermissionDenied(what + ": the sealed bytes did not verify under this key (" +
                            Pkcs11ResultName(rv) + ")");
  }
  if (out_size != sealed.size() - kTagSize) {
    return Internal(what + ": the token returned " + std::to_string(out_size) + " bytes");
  }
  return crypto::SecretBytes::CopyOf(buffer.Reveal().first(out_size));
}

}  // namespace coffre::keys
