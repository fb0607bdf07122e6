#pragma once
// PKCS#11 return values (CK_RV) as Status: one mapping, so every caller reports a wrong PIN, a
// removed token or an unsupported mechanism the same specific way. Messages name the operation
// and the CKR_ code, never a PIN or key bytes. Stateless.

#include <p11-kit/pkcs11.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace coffre::keys {

// "CKR_PIN_INCORRECT", or "CKR 0x..." for a code this table does not name.
std::string Pkcs11ResultName(CK_RV rv);

// `what` failed with `rv` (which is not CKR_OK):
//   PIN incorrect, locked, expired, or not logged in   -> PERMISSION_DENIED
//   token not present, device removed, session gone,
//   a handle found moments ago gone                    -> UNAVAILABLE ("... was removed")
//   mechanism, key type or key size not supported      -> FAILED_PRECONDITION
//   anything else                                      -> INTERNAL
Status Pkcs11Error(std::string_view what, CK_RV rv);

}  // namespace coffre::keys
