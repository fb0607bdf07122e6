#include "cli/vault_connection.h"

#include "cli/connection_file.h"

#include "common/encoding.h"

#include "common/files.h"
#include "common/strings.h"

namespace coffre::cli {
namespace {

using nlohmann::json;

// A vault that keeps returning nextLinks must not hang the tool: 25 items a page, this is
// 250,000 items.
constexpr int kMaxPages = 10000;

}  // namespace

Result<VaultConnection> ResolveConnection(const ConnectionOptions& options,
                                          std::string_view env_token) {
  VaultConnection c;
  std::string dir_token;
  std::filesystem::path file = std::filesystem::path(options.dir) / "connection.json";
  if (!options.dir.empty()) {
    COFFRE_ASSIGN_OR_RETURN(json j, ReadConnectionFile(file));
    c.vault_url = StringField(j, "vault_url");
    c.ca_file = StringField(j, "ca_file");
    dir_token = StringField(j, "vault_token");
  }
  if (!options.vault_url.empty()) c.vault_url = options.vault_url;
  if (!options.ca_file.empty()) c.ca_file = options.ca_file;
  if (c.vault_url.empty()) {
    return InvalidArgument(
        options.dir.empty() ? "no vault given: use --dir DIR, or --vault-url URL [--ca-file FILE]"
                            : file.string() + " names no vault (is the stack up?)");
  }
  if (!options.token_file.empty()) {
    COFFRE_ASSIGN_OR_RETURN(std::string token, ReadTextFile(options.token_file));
    c.token = TrimEnd(std::move(token), "\r\n ");
  } else if (!dir_token.empty()) {
    c.token = dir_token;
  } else {
    c.token = TrimEnd(std::string(env_token), "\r\n ");
  }
  if (c.token.empty()) {
    return InvalidArgument("no vault token: use --token-file FILE or set COFFRE_VAULT_TOKEN");
  }
  return c;
}

Result<std::unique_ptr<keys::VaultHttpClient>> OpenVault(const VaultConnection& connection) {
  return keys::VaultHttpClient::Create(connection.vault_url, connection.ca_file, connection.token);
}

Result<json> CallVault(keys::VaultHttpClient& vault, std::string_view method, std::string_view path,
                       const json* body, std::string_view query) {
  COFFRE_ASSIGN_OR_RETURN(keys::VaultReply reply, vault.Call(method, path, body, query));
  COFFRE_RETURN_IF_ERROR(keys::VaultHttpClient::ToStatus(reply));
  return std::move(reply.body);
}

Result<json> ListAll(keys::VaultHttpClient& vault, std::string_view path) {
  json all = json::array();
  PageLink next{std::string(path), ""};
  for (int page = 0; page < kMaxPages; ++page) {
    COFFRE_ASSIGN_OR_RETURN(json body, CallVault(vault, "GET", next.path, nullptr, next.query));
    if (!body.is_object() || !body.contains("value") || !body["value"].is_array()) {
      return Internal("the vault's reply to GET " + next.path + " is not a list");
    }
    for (json& item : body["value"]) all.push_back(std::move(item));
    auto link = body.find("nextLink");
    if (link == body.end() || !link->is_string() || link->get<std::string>().empty()) {
      return json{{"value", std::move(all)}, {"nextLink", nullptr}};
    }
    COFFRE_ASSIGN_OR_RETURN(next, SplitNextLink(link->get<std::string>()));
  }
  return Internal("the vault's list at " + std::string(path) + " does not end");
}

Result<PageLink> SplitNextLink(std::string_view url) {
  // Only the path and query are used: the client stays bound to the vault it was opened on,
  // so a nextLink naming another host cannot redirect the token there.
  size_t scheme_end = url.find("://");
  size_t path_start =
      scheme_end == std::string_view::npos ? scheme_end : url.find('/', scheme_end + 3);
  if (path_start == std::string_view::npos) {
    return Internal("the vault returned a nextLink that is not a URL: " + std::string(url));
  }
  std::string_view rest = url.substr(path_start);
  size_t q = rest.find('?');
  PageLink link{std::string(rest.substr(0, q)), ""};
  if (q == std::string_view::npos) return link;
  std::string_view query = rest.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (param.empty() || param.starts_with("api-version=")) continue;
    if (!link.query.empty()) link.query += '&';
    link.query += param;
  }
  return link;
}

std::string PathSegment(std::string_view name) { return PercentEncode(name); }

}  // namespace coffre::cli
