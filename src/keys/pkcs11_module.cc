#include "keys/pkcs11_module.h"

#include <dlfcn.h>

#include <vector>

#include "keys/pkcs11_error.h"

namespace coffre::keys {

void Pkcs11Module::DlClose::operator()(void* handle) const { ::dlclose(handle); }

Result<std::unique_ptr<Pkcs11Module>> Pkcs11Module::Load(const std::filesystem::path& path) {
  std::string where = "PKCS#11 module " + path.string();
  // RTLD_LOCAL: the module's symbols stay its own, as in every PKCS#11 consumer.
  std::unique_ptr<void, DlClose> library(::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!library) {
    const char* why = ::dlerror();
    return FailedPrecondition("cannot load " + where + ": " + (why ? why : "dlopen failed"));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(
      ::dlsym(library.get(), "C_GetFunctionList"));
  if (get_list == nullptr) {
    return FailedPrecondition(where + " is not a PKCS#11 module (no C_GetFunctionList)");
  }
  CK_FUNCTION_LIST* functions = nullptr;
  CK_RV rv = get_list(&functions);
  if (rv != CKR_OK || functions == nullptr) {
    return FailedPrecondition(where + ": C_GetFunctionList failed (" + Pkcs11ResultName(rv) + ")");
  }
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  rv = functions->C_Initialize(&args);
  bool finalize = rv == CKR_OK;
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    return FailedPrecondition(where + ": C_Initialize failed (" + Pkcs11ResultName(rv) + ")");
  }
  return std::unique_ptr<Pkcs11Module>(
      new Pkcs11Module(path, std::move(library), functions, finalize));
}

Pkcs11Module::~Pkcs11Module() {
  if (finalize_) functions_->C_Finalize(nullptr);
}

Result<CK_SLOT_ID> Pkcs11Module::FindToken(std::string_view label) const {
  if (label.empty() || label.size() > kMaxTokenLabel) {
    return InvalidArgument("a PKCS#11 token label has 1 to 32 bytes");
  }
  CK_ULONG count = 0;
  CK_RV rv = functions_->C_GetSlotList(CK_TRUE, nullptr, &count);
  if (rv != CKR_OK) return Pkcs11Error("listing the slots of " + path_.string(), rv);
  std::vector<CK_SLOT_ID> slots(count);
  if (count > 0) {
    rv = functions_->C_GetSlotList(CK_TRUE, slots.data(), &count);
    if (rv != CKR_OK) return Pkcs11Error("listing the slots of " + path_.string(), rv);
    slots.resize(count);
  }
  std::string seen;
  std::vector<CK_SLOT_ID> matches;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info{};
    // A token removed between the two calls is simply not there.
    if (functions_->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    std::string_view padded(reinterpret_cast<const char*>(info.label), sizeof info.label);
    size_t end = padded.find_last_not_of(' ');
    std::string_view name = end == std::string_view::npos ? "" : padded.substr(0, end + 1);
    if (!(info.flags & CKF_TOKEN_INITIALIZED)) continue;
    if (name == label) matches.push_back(slot);
    seen += (seen.empty() ? "'" : ", '") + std::string(name) + "'";
  }
  if (matches.size() > 1) {
    return FailedPrecondition("several PKCS#11 tokens are labelled '" + std::string(label) + "'");
  }
  if (matches.empty()) {
    return NotFound("no PKCS#11 token labelled '" + std::string(label) + "' in " + path_.string() +
                    " (tokens present: " + (seen.empty() ? "none" : seen) + ")");
  }
  return matches.front();
}

}  // namespace coffre::keys
