#include "vault/seal/master_key_file.h"

#include "common/files.h"
#include "vault/seal/master_lineage.h"

namespace coffre::vault {
namespace {

Result<nlohmann::json> ParseMasterFile(const std::filesystem::path& path) {
  COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(path));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  auto version = j.is_object() ? j.find("version") : j.end();
  if (j.is_discarded() || !j.is_object() || version == j.end() || *version != 1) {
    return DataLoss(path.string() + " is not a sealed master key file");
  }
  return j;
}

std::string DescribeMethod(const MasterKeySealing& s) {
  if (s.kdf == kPkcs11Kdf) {
    return "by the key '" + s.key_label + "' on the PKCS#11 token '" + s.token_label + "'";
  }
  return "by a passphrase (" + s.kdf + ")";
}

MasterKeySealing SealingOf(const nlohmann::json& j) {
  return {TextField(j, "kdf"), TextField(j, "token_label"), TextField(j, "key_label"),
          TextField(j, "mechanism"), TextField(j, "lineage")};
}

}  // namespace

std::string TextField(const nlohmann::json& j, const char* field) {
  auto it = j.is_object() ? j.find(field) : j.end();
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<MasterKeySealing> ReadMasterKeySealing(const std::filesystem::path& path) {
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json j, ParseMasterFile(path));
  MasterKeySealing s = SealingOf(j);
  if (s.kdf != kPassphraseKdf && s.kdf != kPkcs11Kdf) {
    return DataLoss(path.string() + " is sealed by an unknown method '" + s.kdf + "'");
  }
  return s;
}

Result<nlohmann::json> ReadSealedMasterFile(const std::filesystem::path& path,
                                            std::string_view kdf) {
  COFFRE_ASSIGN_OR_RETURN(nlohmann::json j, ParseMasterFile(path));
  MasterKeySealing found = SealingOf(j);
  if (found.kdf == kdf) return j;
  if (found.kdf != kPassphraseKdf && found.kdf != kPkcs11Kdf) {
    return DataLoss(path.string() + " is sealed by an unknown method '" + found.kdf + "'");
  }
  bool want_token = kdf == kPkcs11Kdf;
  return FailedPrecondition(
      "the vault master key in " + path.string() + " is sealed " + DescribeMethod(found) +
      (want_token ? ", not by a PKCS#11 token: start the vault with its passphrase"
                  : ", not by a passphrase: start the vault with that token and key"));
}

Status WriteSealedMasterFile(const std::filesystem::path& path, nlohmann::json fields,
                             const crypto::SecretBytes& master) {
  if (std::filesystem::exists(path)) return AlreadyExists(path.string() + " exists");
  COFFRE_ASSIGN_OR_RETURN(std::string lineage, MasterKeyLineage(master));
  fields["version"] = 1;
  fields["lineage"] = lineage;
  std::string text = fields.dump(2) + "\n";
  return WriteFileDurably(path, AsBytes(text), 0600);
}

Status VerifyRecordedLineage(const std::filesystem::path& path, const nlohmann::json& file,
                             const crypto::SecretBytes& master) {
  std::string recorded = TextField(file, "lineage");
  if (recorded.empty()) return Status::Ok();
  COFFRE_ASSIGN_OR_RETURN(std::string lineage, MasterKeyLineage(master));
  // Both are public; the comparison is exact, not secret.
  if (recorded != lineage) {
    return DataLoss(path.string() + " records the lineage " + recorded +
                    ", which is not its master key's: the file was edited");
  }
  return Status::Ok();
}

}  // namespace coffre::vault
