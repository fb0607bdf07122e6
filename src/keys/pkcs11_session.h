#pragma once
// Pkcs11Session: a read-write session on one token, found by its label, and logged in as the
// token's user for the object's life: the destructor logs out (C_Logout), then closes the
// session (C_CloseSession). The PIN is read from the caller's SecretBytes, never copied.
// Thread-compatible: PKCS#11 forbids concurrent calls on one session.

#include <p11-kit/pkcs11.h>

#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"
#include "crypto/secret_bytes.h"
#include "keys/pkcs11_module.h"

namespace coffre::keys {

class Pkcs11Session {
 public:
  // module must outlive the session. NOT_FOUND when no token has the label, PERMISSION_DENIED
  // for a wrong or locked PIN, UNAVAILABLE when the token goes away meanwhile.
  static Result<std::unique_ptr<Pkcs11Session>> Open(const Pkcs11Module& module,
                                                     std::string_view token_label,
                                                     const crypto::SecretBytes& pin);
  ~Pkcs11Session();
  Pkcs11Session(const Pkcs11Session&) = delete;
  Pkcs11Session& operator=(const Pkcs11Session&) = delete;

  CK_FUNCTION_LIST& functions() const { return module_.functions(); }
  CK_SESSION_HANDLE handle() const { return handle_; }
  // "PKCS#11 token 'coffre'": how error messages name this token.
  std::string Describe() const { return "PKCS#11 token '" + token_label_ + "'"; }

 private:
  Pkcs11Session(const Pkcs11Module& module, std::string token_label, CK_SESSION_HANDLE handle)
      : module_(module), token_label_(std::move(token_label)), handle_(handle) {}

  const Pkcs11Module& module_;
  std::string token_label_;
  CK_SESSION_HANDLE handle_;
  bool logged_in_ = false;
};

}  // namespace coffre::keys
