#include "keys/pkcs11_error.h"

#include <cstdio>
#include <utility>

namespace coffre::keys {
namespace {

#define COFFRE_CKR_(name) {name, #name}
// The codes a module is likely to return to what Coffre calls.
constexpr std::pair<CK_RV, const char*> kNames[] = {
    COFFRE_CKR_(CKR_OK),
    COFFRE_CKR_(CKR_HOST_MEMORY),
    COFFRE_CKR_(CKR_SLOT_ID_INVALID),
    COFFRE_CKR_(CKR_GENERAL_ERROR),
    COFFRE_CKR_(CKR_FUNCTION_FAILED),
    COFFRE_CKR_(CKR_ARGUMENTS_BAD),
    COFFRE_CKR_(CKR_ATTRIBUTE_SENSITIVE),
    COFFRE_CKR_(CKR_ATTRIBUTE_TYPE_INVALID),
    COFFRE_CKR_(CKR_ATTRIBUTE_VALUE_INVALID),
    COFFRE_CKR_(CKR_DATA_INVALID),
    COFFRE_CKR_(CKR_DATA_LEN_RANGE),
    COFFRE_CKR_(CKR_DEVICE_ERROR),
    COFFRE_CKR_(CKR_DEVICE_MEMORY),
    COFFRE_CKR_(CKR_DEVICE_REMOVED),
    COFFRE_CKR_(CKR_ENCRYPTED_DATA_INVALID),
    COFFRE_CKR_(CKR_ENCRYPTED_DATA_LEN_RANGE),
    COFFRE_CKR_(CKR_FUNCTION_CANCELED),
    COFFRE_CKR_(CKR_FUNCTION_NOT_SUPPORTED),
    COFFRE_CKR_(CKR_KEY_HANDLE_INVALID),
    COFFRE_CKR_(CKR_KEY_SIZE_RANGE),
    COFFRE_CKR_(CKR_KEY_TYPE_INCONSISTENT),
    COFFRE_CKR_(CKR_KEY_FUNCTION_NOT_PERMITTED),
    COFFRE_CKR_(CKR_MECHANISM_INVALID),
    COFFRE_CKR_(CKR_MECHANISM_PARAM_INVALID),
    COFFRE_CKR_(CKR_OBJECT_HANDLE_INVALID),
    COFFRE_CKR_(CKR_OPERATION_ACTIVE),
    COFFRE_CKR_(CKR_OPERATION_NOT_INITIALIZED),
    COFFRE_CKR_(CKR_PIN_INCORRECT),
    COFFRE_CKR_(CKR_PIN_INVALID),
    COFFRE_CKR_(CKR_PIN_LEN_RANGE),
    COFFRE_CKR_(CKR_PIN_EXPIRED),
    COFFRE_CKR_(CKR_PIN_LOCKED),
    COFFRE_CKR_(CKR_SESSION_CLOSED),
    COFFRE_CKR_(CKR_SESSION_COUNT),
    COFFRE_CKR_(CKR_SESSION_HANDLE_INVALID),
    COFFRE_CKR_(CKR_SESSION_READ_ONLY),
    COFFRE_CKR_(CKR_TEMPLATE_INCOMPLETE),
    COFFRE_CKR_(CKR_TEMPLATE_INCONSISTENT),
    COFFRE_CKR_(CKR_TOKEN_NOT_PRESENT),
    COFFRE_CKR_(CKR_TOKEN_NOT_RECOGNIZED),
    COFFRE_CKR_(CKR_TOKEN_WRITE_PROTECTED),
    COFFRE_CKR_(CKR_USER_ALREADY_LOGGED_IN),
    COFFRE_CKR_(CKR_USER_NOT_LOGGED_IN),
    COFFRE_CKR_(CKR_USER_PIN_NOT_INITIALIZED),
    COFFRE_CKR_(CKR_USER_TYPE_INVALID),
    COFFRE_CKR_(CKR_BUFFER_TOO_SMALL),
    COFFRE_CKR_(CKR_CRYPTOKI_NOT_INITIALIZED),
    COFFRE_CKR_(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};
#undef COFFRE_CKR_

}  // namespace

std::string Pkcs11ResultName(CK_RV rv) {
  for (const auto& [code, name] : kNames) {
    if (code == rv) return name;
  }
  char hex[32];
  std::snprintf(hex, sizeof hex, "CKR 0x%lx", static_cast<unsigned long>(rv));
  return hex;
}

Status Pkcs11Error(std::string_view what, CK_RV rv) {
  std::string message = std::string(what) + ": ";
  switch (rv) {
    case CKR_PIN_INCORRECT:
      return PermissionDenied(message + "wrong PIN (CKR_PIN_INCORRECT)");
    case CKR_PIN_LOCKED:
      return PermissionDenied(message + "the user PIN is locked (CKR_PIN_LOCKED)");
    case CKR_PIN_EXPIRED:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_USER_PIN_NOT_INITIALIZED:
      return PermissionDenied(message + "the token refused the login (" + Pkcs11ResultName(rv) +
                              ")");
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_DEVICE_REMOVED:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_TOKEN_NOT_RECOGNIZED:
      return Unavailable(message + "the token was removed (" + Pkcs11ResultName(rv) + ")");
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
      // A handle found moments ago: its object, or the whole token, went away since.
      return Unavailable(message + "the key or its token was removed (" + Pkcs11ResultName(rv) +
                         ")");
    case CKR_MECHANISM_INVALID:
    case CKR_MECHANISM_PARAM_INVALID:
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_KEY_SIZE_RANGE:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_FUNCTION_NOT_SUPPORTED:
      return FailedPrecondition(message + "the token does not support this (" +
                                Pkcs11ResultName(rv) + ")");
    default:
      return Internal(message + Pkcs11ResultName(rv));
  }
}

}  // namespace coffre::keys
