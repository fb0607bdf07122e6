#include "hubservice/bootstrap_files.h"

#include "common/files.h"

namespace coffre::hubservice {

Status WriteOwnerConnectionString(hub::AccessPolicies& policies, const std::string& host,
                                  const std::filesystem::path& dir) {
  COFFRE_ASSIGN_OR_RETURN(hub::AccessPolicy owner, policies.Get("iothubowner"));
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  std::string text = "HostName=" + host +
                     ";SharedAccessKeyName=iothubowner;SharedAccessKey=" + owner.primary_key + "\n";
  return WriteFileDurably(dir / "iothubowner.connection-string", AsBytes(text), 0600);
}

Status WriteEventHubConnectionString(hub::AccessPolicies& policies, const std::string& host,
                                     uint16_t amqp_port, const std::string& hub_name,
                                     const std::filesystem::path& dir) {
  // The policy with ServiceConnect that Azure's portal shows for the built-in endpoint.
  COFFRE_ASSIGN_OR_RETURN(hub::AccessPolicy service, policies.Get("service"));
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  std::string text = "Endpoint=sb://" + host + ":" + std::to_string(amqp_port) +
                     "/;SharedAccessKeyName=service;SharedAccessKey=" + service.primary_key +
                     ";EntityPath=" + hub_name + "\n";
  return WriteFileDurably(dir / "eventhub.connection-string", AsBytes(text), 0600);
}

Status BootstrapDevice(hub::Registry& registry, const std::string& id, const std::string& host,
                       const std::filesystem::path& dir) {
  Result<hub::DeviceIdentity> device = registry.Get(id);
  if (!device.has_value() && device.error().code() == StatusCode::kNotFound) {
    hub::DeviceIdentity d;
    d.device_id = id;
    device = registry.Create(d);
  }
  if (!device.has_value()) return device.error();
  COFFRE_RETURN_IF_ERROR(EnsurePrivateDirectory(dir));
  std::string text =
      "HostName=" + host + ";DeviceId=" + id + ";SharedAccessKey=" + device->primary_key + "\n";
  return WriteFileDurably(dir / (id + ".connection-string"), AsBytes(text), 0600);
}

}  // namespace coffre::hubservice
