#include "keys/vault_replies.h"

#include "common/encoding.h"
#include "common/json_fields.h"
#include "crypto/aes_gcm.h"
#include "keys/vault_key_provider.h"

namespace coffre::keys {
namespace {

Status Malformed(std::string_view operation, const Status& why) {
  return Unavailable("the vault's " + std::string(operation) + " reply is malformed: " + why.message());
}

}  // namespace

Result<KeyReply> ReadKeyReply(const nlohmann::json& body, int64_t now_s) {
  Result<KeyReply> read = [&]() -> Result<KeyReply> {
    COFFRE_ASSIGN_OR_RETURN(JsonFields fields, JsonFields::Of(body));
    COFFRE_ASSIGN_OR_RETURN(JsonFields key, fields.Required<JsonFields>("key"));
    COFFRE_ASSIGN_OR_RETURN(JsonFields attributes, fields.Required<JsonFields>("attributes"));
    KeyReply out;
    crypto::KeyDescription& d = out.description;
    COFFRE_ASSIGN_OR_RETURN(d.id, key.Required<std::string>("kid"));
    COFFRE_ASSIGN_OR_RETURN(out.kty, key.Or<std::string>("kty", ""));
    COFFRE_ASSIGN_OR_RETURN(auto recovery, attributes.Nullable<std::string>("recoveryLevel"));
    COFFRE_ASSIGN_OR_RETURN(std::optional<bool> enabled, attributes.Nullable<bool>("enabled"));
    COFFRE_ASSIGN_OR_RETURN(std::optional<int64_t> exp, attributes.Nullable<int64_t>("exp"));
    COFFRE_ASSIGN_OR_RETURN(std::optional<int64_t> nbf, attributes.Nullable<int64_t>("nbf"));
    COFFRE_ASSIGN_OR_RETURN(KeyUri kid, ParseKeyUri(d.id));
    d.name = kid.name;
    d.version = kid.version;
    d.purge_protected = recovery && !recovery->empty() && recovery->find("Purgeable") == std::string::npos;
    if (!enabled.value_or(false)) {
      d.state = crypto::KeyState::kDisabled;
    } else if (exp && now_s >= *exp) {
      d.state = crypto::KeyState::kExpired;
    } else if (nbf && now_s < *nbf) {
      d.state = crypto::KeyState::kNotYetValid;
    }
    return out;
  }();
  if (!read.has_value()) return Malformed("key", read.error());
  return read;
}

Result<std::pair<std::string, Bytes>> ReadWrapReply(const nlohmann::json& body) {
  Result<std::pair<std::string, std::string>> read =
      [&]() -> Result<std::pair<std::string, std::string>> {
    COFFRE_ASSIGN_OR_RETURN(JsonFields fields, JsonFields::Of(body));
    COFFRE_ASSIGN_OR_RETURN(std::string kid, fields.Required<std::string>("kid"));
    COFFRE_ASSIGN_OR_RETURN(std::string value, fields.Required<std::string>("value"));
    return std::make_pair(std::move(kid), std::move(value));
  }();
  if (!read.has_value()) return Malformed("wrapKey", read.error());
  Result<Bytes> wrapped = Base64UrlDecode(read->second);
  if (!wrapped.has_value()) return Malformed("wrapKey", wrapped.error());
  return std::make_pair(std::move(read->first), std::move(*wrapped));
}

Result<crypto::SecretBytes> ReadUnwrapReply(nlohmann::json& body) {
  auto it = body.is_object() ? body.find("value") : body.end();
  if (it == body.end() || !it->is_string()) {
    return Malformed("unwrapKey", InvalidArgument("field 'value' must be a string"));
  }
  // Read in place, so no copy of the key's base64 is left behind, then wiped.
  std::string& text = it->get_ref<std::string&>();
  Result<Bytes> raw = Base64UrlDecode(text);
  crypto::Cleanse(text);
  if (!raw.has_value()) return crypto::OpenFailed();
  Result<crypto::SecretBytes> key = crypto::SecretBytes::CopyOf(*raw);
  crypto::Cleanse(*raw);
  return key;
}

}  // namespace coffre::keys
