#include "load_devices.h"

#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <fstream>
#include <map>

#include "common/encoding.h"
#include "common/strings.h"
#include "crypto/random.h"
#include "crypto/secret_bytes.h"
#include "hub/sas_token.h"
#include "net/https_client.h"

namespace coffre::load {

Result<std::string> CreateDevices(const Options& o) {
  std::map<std::string, std::string> parts;
  for (std::string_view part : Split(o.owner, ';')) {
    size_t eq = part.find('=');
    if (eq != std::string_view::npos) parts[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  COFFRE_ASSIGN_OR_RETURN(Bytes owner_raw, Base64Decode(parts["SharedAccessKey"]));
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes owner_key, crypto::SecretBytes::CopyOf(owner_raw));
  COFFRE_ASSIGN_OR_RETURN(std::string token,
                          hub::MakeSasToken(parts["HostName"], owner_key, std::time(nullptr) + 3600,
                                            parts["SharedAccessKeyName"]));
  net::HttpsClientOptions client_options;
  client_options.origin.scheme = "https";
  client_options.origin.host = "localhost";
  client_options.origin.port = o.https_port;
  client_options.ca_file = o.ca_file;
  COFFRE_ASSIGN_OR_RETURN(auto client, net::HttpsClient::Create(client_options));
  std::string file = o.keep_devices_file.empty()
                         ? "/tmp/mqtt_load_devices." + std::to_string(::getpid())
                         : o.keep_devices_file;
  mode_t old_mask = ::umask(077);  // device keys: the owner's eyes only
  std::ofstream out(file);
  ::umask(old_mask);
  for (int i = 0; i < o.clients; ++i) {
    std::string id = o.id_prefix + std::to_string(i);
    Bytes raw(32);
    COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(raw));
    std::string key = Base64Encode(raw);
    std::string body = "{\"deviceId\":\"" + id + "\",\"authentication\":{\"type\":\"sas\","
                       "\"symmetricKey\":{\"primaryKey\":\"" + key + "\",\"secondaryKey\":\"" + key + "\"}}}";
    std::string path = "/devices/" + id + "?api-version=2021-04-12";
    net::HttpHeaders headers = {{"Authorization", token}, {"Content-Type", "application/json"}};
    COFFRE_ASSIGN_OR_RETURN(net::HttpResponse r, client->Send("PUT", path, headers, body));
    if (r.status == 409) {  // there from an earlier run: give it the new keys
      headers.emplace_back("If-Match", "*");
      COFFRE_ASSIGN_OR_RETURN(r, client->Send("PUT", path, headers, body));
    }
    if (r.status >= 300) return Internal("PUT /devices/" + id + ": " + std::to_string(r.status) + " " + r.body);
    out << id << " " << key << "\n";
  }
  out.close();
  if (!out) return Internal("writing " + file + " failed");
  return file;
}

Result<std::vector<Identity>> LoadIdentities(const Options& o) {
  std::vector<Identity> identities;
  identities.reserve(static_cast<size_t>(o.clients));
  if (o.devices_file.empty()) {
    for (int i = 0; i < o.clients; ++i) identities.push_back({o.id_prefix + std::to_string(i), o.password});
    return identities;
  }
  std::ifstream in(o.devices_file);
  std::string id, key;
  int64_t expiry = std::time(nullptr) + 3600;
  while (static_cast<int>(identities.size()) < o.clients && in >> id >> key) {
    auto raw = Base64Decode(key);
    auto secret = raw.has_value() ? crypto::SecretBytes::CopyOf(*raw) : Result<crypto::SecretBytes>(raw.error());
    if (!secret.has_value()) return InvalidArgument("bad key for " + id);
    COFFRE_ASSIGN_OR_RETURN(std::string token, hub::MakeSasToken(o.hub_host + "/devices/" + id, *secret, expiry));
    identities.push_back({id, std::move(token)});
  }
  if (static_cast<int>(identities.size()) < o.clients) {
    return InvalidArgument(o.devices_file + " names fewer than " + std::to_string(o.clients) + " devices");
  }
  return identities;
}

}  // namespace coffre::load
