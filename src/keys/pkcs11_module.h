#pragma once
// Pkcs11Module: one PKCS#11 library (a .so such as Debian's /usr/lib/softhsm/libsofthsm2.so)
// loaded with dlopen, its function list from C_GetFunctionList, initialised (C_Initialize, OS
// locking) for the object's life; the destructor calls C_Finalize, then dlclose. It finds tokens
// by label. Thread-safe: the library locks for itself (CKF_OS_LOCKING_OK).

#include <p11-kit/pkcs11.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace coffre::keys {

class Pkcs11Module {
 public:
  // FAILED_PRECONDITION when the file cannot be loaded, is no PKCS#11 module, or will not
  // initialise.
  static Result<std::unique_ptr<Pkcs11Module>> Load(const std::filesystem::path& path);
  ~Pkcs11Module();
  Pkcs11Module(const Pkcs11Module&) = delete;
  Pkcs11Module& operator=(const Pkcs11Module&) = delete;

  CK_FUNCTION_LIST& functions() const { return *functions_; }
  const std::filesystem::path& path() const { return path_; }

  // The slot of the token labelled `label` (CK_TOKEN_INFO's label without its blank padding).
  // NOT_FOUND names the labels present; FAILED_PRECONDITION if several tokens share the label.
  Result<CK_SLOT_ID> FindToken(std::string_view label) const;

  // The longest label PKCS#11 can hold (CKA_LABEL of a key has no limit; a token's has).
  static constexpr size_t kMaxTokenLabel = 32;

 private:
  struct DlClose {
    void operator()(void* handle) const;
  };
  Pkcs11Module(std::filesystem::path path, std::unique_ptr<void, DlClose> library,
               CK_FUNCTION_LIST* functions, bool finalize)
      : path_(std::move(path)), library_(std::move(library)), functions_(functions),
        finalize_(finalize) {}

  std::filesystem::path path_;
  std::unique_ptr<void, DlClose> library_;  // outlives functions_: declared first
  CK_FUNCTION_LIST* functions_;             // points into the library
  bool finalize_;  // false when someone else in this process initialised the module
};

}  // namespace coffre::keys
