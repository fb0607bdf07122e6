#include "keys/pkcs11_session.h"

#include "keys/pkcs11_error.h"

namespace coffre::keys {

Result<std::unique_ptr<Pkcs11Session>> Pkcs11Session::Open(const Pkcs11Module& module,
                                                           std::string_view token_label,
                                                           const crypto::SecretBytes& pin) {
  COFFRE_ASSIGN_OR_RETURN(CK_SLOT_ID slot, module.FindToken(token_label));
  CK_SESSION_HANDLE handle = CK_INVALID_HANDLE;
  CK_RV rv = module.functions().C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, nullptr,
                                              nullptr, &handle);
  std::string what = "PKCS#11 token '" + std::string(token_label) + "'";
  if (rv != CKR_OK) return Pkcs11Error("opening a session on " + what, rv);
  // Owned from here on, so every early return below closes the session.
  std::unique_ptr<Pkcs11Session> session(
      new Pkcs11Session(module, std::string(token_label), handle));
  if (pin.empty()) return InvalidArgument("logging in to " + what + ": the PIN is empty");
  ByteSpan bytes = pin.Reveal();
  // C_Login does not write through the pointer; the cast only meets its C signature.
  rv = module.functions().C_Login(handle, CKU_USER,
                                  const_cast<CK_UTF8CHAR*>(AsUChars(bytes)), bytes.size());
  // The login state belongs to the application, not the session: it may already be there.
  if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
    return Pkcs11Error("logging in to " + what, rv);
  }
  session->logged_in_ = rv == CKR_OK;
  return session;
}

Pkcs11Session::~Pkcs11Session() {
  if (logged_in_) functions().C_Logout(handle_);
  functions().C_CloseSession(handle_);
}

}  // namespace coffre::keys
