#include "hubapi/key_events_api.h"

#include "common/files.h"
#include "common/strings.h"
#include "crypto/secret_bytes.h"
#include "crypto/webhook_signature.h"
#include "hubapi/service_api.h"

namespace coffre::hubapi {
namespace {

// Read at each event, so a new secret (coffre hub encryption set) applies at once.
Result<crypto::SecretBytes> ReadSecret(const std::string& file) {
  if (file.empty()) return Unauthenticated("this hub has no key events secret configured");
  Result<std::string> text = ReadTextFile(file);
  if (!text.has_value()) return Unauthenticated("the hub cannot read its key events secret");
  std::string trimmed = TrimEnd(std::move(*text), "\r\n ");
  Result<crypto::SecretBytes> secret = crypto::SecretBytes::CopyOf(AsBytes(trimmed));
  crypto::Cleanse(trimmed);
  return secret;
}

}  // namespace

KeyEventsApi::KeyEventsApi(hub::KeyMonitor& monitor, const hub::EncryptionConfig& config,
                           const Clock& clock)
    : monitor_(monitor), config_(config), clock_(clock) {}

std::optional<net::HttpResponse> KeyEventsApi::Handle(const net::HttpRequest& request) {
  if (!ServiceApi::IsCoffrePath(request.target, "keyevents")) return std::nullopt;
  if (request.method != "POST") return ServiceApi::Error(405, "MethodNotAllowed", "Use POST.");
  Status verified = [&]() -> Status {
    COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes secret,
                            ReadSecret(config_.Get().key_events_secret_file));
    return crypto::VerifyWebhook(secret, request.Header(crypto::kWebhookSignatureHeader),
                                 request.body, clock_.NowSeconds());
  }();
  if (!verified.ok()) {
    return ServiceApi::Error(401, "IotHubUnauthorizedAccess",
                             "Key event refused: " + verified.message());
  }
  monitor_.Wake();  // a cue: the monitor's own check decides
  net::HttpResponse ok;
  ok.body = "{}";
  return ok;
}

}  // namespace coffre::hubapi
