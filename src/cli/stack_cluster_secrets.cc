#include "cli/stack_cluster_secrets.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <nlohmann/json.hpp>

#include "common/encoding.h"
#include "common/files.h"
#include "crypto/random.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

constexpr int kScramIterations = 4096;  // PostgreSQL's default (scram_iterations)

Result<std::string> NewPassword() {
  Bytes raw(24);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(raw));
  return Base64UrlEncode(raw);  // A-Z a-z 0-9 - _: nothing to escape in YAML, pgpass or conninfo
}

Result<Bytes> Hmac(ByteSpan key, std::string_view text) {
  Bytes out(SHA256_DIGEST_LENGTH);
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(text.data()), text.size(),
           reinterpret_cast<unsigned char*>(out.data()), &len) == nullptr) {
    return Internal("HMAC-SHA-256 failed");
  }
  return out;
}

}  // namespace

Result<std::string> ScramVerifier(const std::string& password) {
  Bytes salt(16), salted(SHA256_DIGEST_LENGTH), stored(SHA256_DIGEST_LENGTH);
  COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(salt));
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), kScramIterations, EVP_sha256(),
                        static_cast<int>(salted.size()),
                        reinterpret_cast<unsigned char*>(salted.data())) != 1) {
    return Internal("PBKDF2 failed");
  }
  COFFRE_ASSIGN_OR_RETURN(Bytes client_key, Hmac(salted, "Client Key"));
  COFFRE_ASSIGN_OR_RETURN(Bytes server_key, Hmac(salted, "Server Key"));
  SHA256(reinterpret_cast<const unsigned char*>(client_key.data()), client_key.size(),
         reinterpret_cast<unsigned char*>(stored.data()));
  return "SCRAM-SHA-256$" + std::to_string(kScramIterations) + ":" + Base64Encode(salt) + "$" +
         Base64Encode(stored) + ":" + Base64Encode(server_key);
}

Result<ClusterSecrets> EnsureClusterSecrets(const std::filesystem::path& cluster_dir,
                                            const std::vector<std::string>& hosts) {
  const std::filesystem::path file = cluster_dir / "secrets.json";
  ClusterSecrets s;
  if (std::filesystem::exists(file)) {
    COFFRE_ASSIGN_OR_RETURN(std::string text, ReadTextFile(file));
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return DataLoss(file.string() + " is not JSON");
    s = {j.value("superuser", ""), j.value("replication", ""), j.value("application", ""),
         j.value("restapi", "")};
    if (s.superuser.empty() || s.replication.empty() || s.application.empty() ||
        s.restapi.empty()) {
      return DataLoss(file.string() + " lacks a password");
    }
  } else {
    COFFRE_ASSIGN_OR_RETURN(s.superuser, NewPassword());
    COFFRE_ASSIGN_OR_RETURN(s.replication, NewPassword());
    COFFRE_ASSIGN_OR_RETURN(s.application, NewPassword());
    COFFRE_ASSIGN_OR_RETURN(s.restapi, NewPassword());
    json j = {{"superuser", s.superuser}, {"replication", s.replication},
              {"application", s.application}, {"restapi", s.restapi}};
    std::string text = j.dump(2) + "\n";
    COFFRE_RETURN_IF_ERROR(WriteFileDurably(file, AsBytes(text), 0600));
  }
  // host:port:database:user:password, for each host of the PostgreSQL nodes (one line when
  // they share 127.0.0.1).
  std::string pgpass;
  for (const std::string& host : hosts) {
    std::string line =
        host + ":*:" + kPgDatabase + ":" + kPgApplicationRole + ":" + s.application + "\n";
    if (pgpass.find(line) == std::string::npos) pgpass += line;
  }
  COFFRE_RETURN_IF_ERROR(WriteFileDurably(cluster_dir / "pgpass", AsBytes(pgpass), 0600));
  return s;
}

}  // namespace coffre::cli
