#pragma once
// IdentityListener: hears that a device or module identity changed or went away (updated,
// disabled, keys or thumbprints replaced, deleted), so a protocol front end can re-check the
// sessions it opened under the old identity and close those whose credentials no longer hold.
// It carries the identity only; the listener reads the registry again. module_id empty: the
// device itself, which also concerns its modules (a deleted device takes its modules along).
// Called after the change is stored, outside the registry's lock, from the thread that made
// the change: implementations must be quick (post the work) and must not call the notifier back.

#include <optional>
#include <string>

namespace coffre::hub {

class IdentityListener {
 public:
  virtual ~IdentityListener() = default;
  virtual void IdentityChanged(const std::string& device_id,
                               const std::optional<std::string>& module_id) = 0;
};

}  // namespace coffre::hub
