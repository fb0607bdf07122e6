#include "amqp/sasl.h"

#include <proton/sasl_plugin.h>
#include <proton/transport.h>

#include <cstring>
#include <string_view>

#include <openssl/crypto.h>

namespace coffre::amqp {

namespace {

constexpr const char* kMechanisms = "MSSBCBS PLAIN ANONYMOUS";

SaslState* StateOf(pn_transport_t* t) { return static_cast<SaslState*>(pnx_sasl_get_context(t)); }

void Free(pn_transport_t*) {}  // the connection owns the state

const char* List(pn_transport_t*) { return kMechanisms; }

bool InitServer(pn_transport_t* t) {
  pnx_sasl_set_desired_state(t, SASL_POSTED_MECHANISMS);
  return true;
}

bool InitClient(pn_transport_t*) { return false; }

void PrepareWrite(pn_transport_t*) {}

void Fail(pn_transport_t* t, SaslState* state) {
  if (state != nullptr) state->failed = true;
  pnx_sasl_set_failed(t);
  pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
}

void Succeed(pn_transport_t* t, SaslState* state, std::string user) {
  state->user = std::move(user);
  pnx_sasl_set_succeeded(t, state->user.c_str(), nullptr);
  pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
}

void ProcessInit(pn_transport_t* t, const char* mechanism, const pn_bytes_t* recv) {
  SaslState* state = StateOf(t);
  if (state == nullptr || mechanism == nullptr) return Fail(t, state);
  std::string_view mech(mechanism);
  if (mech == "ANONYMOUS" || mech == "MSSBCBS") return Succeed(t, state, "anonymous");
  if (mech != "PLAIN" || recv == nullptr || state->tokens == nullptr) return Fail(t, state);
  // authzid NUL user NUL password
  std::string_view in(recv->start, recv->size);
  size_t first = in.find('\0');
  if (first == std::string_view::npos) return Fail(t, state);
  size_t second = in.find('\0', first + 1);
  if (second == std::string_view::npos) return Fail(t, state);
  std::string user(in.substr(first + 1, second - first - 1));
  std::string password(in.substr(second + 1));
  Result<Claim> claim = state->tokens->Verify(password);
  OPENSSL_cleanse(password.data(), password.size());
  if (!claim.has_value()) return Fail(t, state);
  state->plain = std::move(*claim);
  Succeed(t, state, std::move(user));
}

void ProcessResponse(pn_transport_t* t, const pn_bytes_t*) { Fail(t, StateOf(t)); }
bool ProcessMechanisms(pn_transport_t*, const char*) { return false; }
void ProcessChallenge(pn_transport_t*, const pn_bytes_t*) {}
void ProcessOutcome(pn_transport_t*, const pn_bytes_t*) {}
bool CanEncrypt(pn_transport_t*) { return false; }
ssize_t MaxEncryptSize(pn_transport_t*) { return 0; }
ssize_t Encode(pn_transport_t*, pn_bytes_t, pn_bytes_t*) { return 0; }
ssize_t Decode(pn_transport_t*, pn_bytes_t, pn_bytes_t*) { return 0; }

const pnx_sasl_implementation kImplementation = {
    Free,          List,           InitServer,  InitClient,     PrepareWrite,
    ProcessInit,   ProcessResponse, ProcessMechanisms, ProcessChallenge, ProcessOutcome,
    CanEncrypt,    MaxEncryptSize, Encode,      Decode};

}  // namespace

void InstallSasl(pn_transport_t* transport, SaslState& state) {
  pnx_sasl_set_implementation(transport, &kImplementation, &state);
}

}  // namespace coffre::amqp
