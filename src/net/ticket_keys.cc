#include "net/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <span>

#include "crypto/random.h"
#include "crypto/secret_bytes.h"

namespace coffre::net {

namespace {

constexpr size_t kNameBytes = 16;  // OpenSSL's key_name
constexpr size_t kKeyBytes = 32;

struct KeySet {
  std::array<unsigned char, kNameBytes> name{};  // random, public: says which set made a ticket
  crypto::SecretBytes aes;                       // AES-256-CBC
  crypto::SecretBytes hmac;                      // HMAC-SHA-256

  static Result<KeySet> Make() {
    KeySet k;
    COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(std::as_writable_bytes(std::span(k.name))));
    COFFRE_ASSIGN_OR_RETURN(k.aes, crypto::SecretBytes::Random(kKeyBytes));
    COFFRE_ASSIGN_OR_RETURN(k.hmac, crypto::SecretBytes::Random(kKeyBytes));
    return k;
  }
};

class TicketKeys {
 public:
  TicketKeys(const Clock& clock, std::chrono::seconds period, KeySet first)
      : clock_(clock), period_(period), current_(std::move(first)),
        next_rotation_(clock.SteadyNow() + period) {}

  // OpenSSL's ticket key callback: 1 encrypted or opened with the current set, 2 opened with
  // the previous one (OpenSSL then issues a new ticket), 0 unknown (a full handshake), -1 error.
  int OnTicket(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
               int encrypt) {
    std::lock_guard lock(mu_);
    if (!Rotate()) return -1;
    if (encrypt == 1) {
      std::memcpy(name, current_.name.data(), kNameBytes);
      auto iv_bytes = std::span(iv, static_cast<size_t>(EVP_CIPHER_iv_length(EVP_aes_256_cbc())));
      if (!crypto::RandomBytes(std::as_writable_bytes(iv_bytes)).ok()) return -1;
      return Init(current_, iv, cipher, mac, /*encrypt=*/true) ? 1 : -1;
    }
    const KeySet* set = nullptr;
    int result = 1;
    if (std::memcmp(name, current_.name.data(), kNameBytes) == 0) {
      set = &current_;
    } else if (previous_ && std::memcmp(name, previous_->name.data(), kNameBytes) == 0) {
      set = &*previous_;
      result = 2;
    }
    if (set == nullptr) return 0;
    return Init(*set, iv, cipher, mac, /*encrypt=*/false) ? result : -1;
  }

 private:
  // Past the period: the current set becomes the previous, the previous is wiped. A server idle
  // for two periods or more keeps no set that old.
  bool Rotate() {
    Clock::SteadyTime now = clock_.SteadyNow();
    if (now < next_rotation_) return true;
    Result<KeySet> fresh = KeySet::Make();
    if (!fresh.has_value()) return false;
    previous_.reset();
    if (now < next_rotation_ + period_) previous_ = std::move(current_);
    current_ = std::move(*fresh);
    next_rotation_ = now + period_;
    return true;
  }

  static bool Init(const KeySet& k, const unsigned char* iv, EVP_CIPHER_CTX* cipher,
                   EVP_MAC_CTX* mac, bool encrypt) {
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
                                          const_cast<std::byte*>(k.hmac.Reveal().data()),
                                          k.hmac.size()),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end()};
    if (EVP_MAC_CTX_set_params(mac, params) != 1) return false;
    const auto* key = reinterpret_cast<const unsigned char*>(k.aes.Reveal().data());
    return encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key, iv) == 1
                   : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key, iv) == 1;
  }

  const Clock& clock_;
  const std::chrono::seconds period_;
  std::mutex mu_;  // handshakes run on every io thread
  KeySet current_;
  std::optional<KeySet> previous_;
  Clock::SteadyTime next_rotation_;
};

// The context owns its TicketKeys through ex_data: freed (and wiped) with the context.
void FreeTicketKeys(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<TicketKeys*>(ptr);
}

int TicketKeysIndex() {
  static const int index =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, FreeTicketKeys);
  return index;
}

int OnTicket(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
             EVP_MAC_CTX* mac, int encrypt) {
  auto* keys = static_cast<TicketKeys*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), TicketKeysIndex()));
  return keys == nullptr ? -1 : keys->OnTicket(name, iv, cipher, mac, encrypt);
}

}  // namespace

Status InstallTicketKeys(SSL_CTX* ctx, const Clock& clock, std::chrono::seconds period) {
  if (period.count() <= 0) return InvalidArgument("the ticket key period must be positive");
  if (TicketKeysIndex() < 0) return Internal("no ex_data index for the ticket keys");
  if (SSL_CTX_get_ex_data(ctx, TicketKeysIndex()) != nullptr) {
    return FailedPrecondition("this TLS context has its ticket keys already");
  }
  COFFRE_ASSIGN_OR_RETURN(KeySet first, KeySet::Make());
  auto keys = std::make_unique<TicketKeys>(clock, period, std::move(first));
  if (SSL_CTX_set_ex_data(ctx, TicketKeysIndex(), keys.get()) != 1) {
    return Internal("could not attach the ticket keys");
  }
  keys.release();  // the context's now
  SSL_CTX_set_timeout(ctx, static_cast<long>(period.count()));  // the tickets' lifetime hint
  if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, OnTicket) != 1) {
    return Internal("could not set the ticket key callback");
  }
  return Status::Ok();
}

}  // namespace coffre::net
