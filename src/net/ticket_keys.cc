#include "net/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "crypto/random.h"
#include "crypto/secret_bytes.h"

namespace coffre::net {

namespace {

constexpr size_t kNameBytes = 16;  // OpenSSL's key_name
constexpr size_t kKeyBytes = 32;
// A store's bytes: a format byte, the count of sets, then each set (the current one first):
// its creation time (wall, ms since the epoch, 8 bytes big-endian), name, AES key, HMAC key.
constexpr std::byte kFormat{1};
constexpr size_t kSetBytes = 8 + kNameBytes + 2 * kKeyBytes;
// A stored set dated this far ahead of the wall clock is still taken up: a clock stepped back
// a little at boot (NTP) must not cost every device a full handshake.
constexpr int64_t kClockStepMs = 5 * 60 * 1000;

struct KeySet {
  std::array<unsigned char, kNameBytes> name{};  // random, public: says which set made a ticket
  crypto::SecretBytes aes;                       // AES-256-CBC
  crypto::SecretBytes hmac;                      // HMAC-SHA-256
  int64_t created_ms = 0;                        // wall time: a stored set's age

  static Result<KeySet> Make(int64_t now_ms) {
    KeySet k;
    COFFRE_RETURN_IF_ERROR(crypto::RandomBytes(std::as_writable_bytes(std::span(k.name))));
    COFFRE_ASSIGN_OR_RETURN(k.aes, crypto::SecretBytes::Random(kKeyBytes));
    COFFRE_ASSIGN_OR_RETURN(k.hmac, crypto::SecretBytes::Random(kKeyBytes));
    k.created_ms = now_ms;
    return k;
  }
};

Result<crypto::SecretBytes> Serialize(const KeySet& current, const std::optional<KeySet>& previous) {
  size_t count = previous ? 2 : 1;
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretBytes out, crypto::SecretBytes::Allocate(2 + count * kSetBytes));
  MutableByteSpan to = out.RevealMutable();
  to[0] = kFormat;
  to[1] = static_cast<std::byte>(count);
  size_t at = 2;
  for (const KeySet* k : {&current, previous ? &*previous : nullptr}) {
    if (k == nullptr) continue;
    for (int i = 7; i >= 0; --i) to[at++] = static_cast<std::byte>(static_cast<uint64_t>(k->created_ms) >> (8 * i));
    std::memcpy(&to[at], k->name.data(), kNameBytes);
    std::memcpy(&to[at + kNameBytes], k->aes.Reveal().data(), kKeyBytes);
    std::memcpy(&to[at + kNameBytes + kKeyBytes], k->hmac.Reveal().data(), kKeyBytes);
    at += kSetBytes - 8;
  }
  return out;
}

// The sets of Serialize's bytes, in order; none if the bytes are not such.
std::vector<KeySet> Parse(const crypto::SecretBytes& bytes) {
  ByteSpan in = bytes.Reveal();
  if (in.size() < 2 || in[0] != kFormat) return {};
  size_t count = static_cast<size_t>(in[1]);
  if (count < 1 || count > 2 || in.size() != 2 + count * kSetBytes) return {};
  std::vector<KeySet> sets;
  for (size_t i = 0, at = 2; i < count; ++i, at += kSetBytes) {
    KeySet k;
    uint64_t created = 0;
    for (size_t b = 0; b < 8; ++b) created = created << 8 | static_cast<uint64_t>(in[at + b]);
    k.created_ms = static_cast<int64_t>(created);
    std::memcpy(k.name.data(), &in[at + 8], kNameBytes);
    Result<crypto::SecretBytes> aes = crypto::SecretBytes::CopyOf(in.subspan(at + 8 + kNameBytes, kKeyBytes));
    Result<crypto::SecretBytes> hmac =
        crypto::SecretBytes::CopyOf(in.subspan(at + 8 + kNameBytes + kKeyBytes, kKeyBytes));
    if (!aes.has_value() || !hmac.has_value()) return {};
    k.aes = std::move(*aes);
    k.hmac = std::move(*hmac);
    sets.push_back(std::move(k));
  }
  return sets;
}

class TicketKeys {
 public:
  TicketKeys(const Clock& clock, std::chrono::seconds period, TicketKeyStore* store)
      : clock_(clock), period_(period), store_(store) {}

  // The store's sets if they are young enough (the current one less than a period old, the
  // previous less than two; none from further in the future than a small clock step), else a
  // new one.
  Status Start() {
    std::lock_guard lock(mu_);
    const int64_t now = clock_.NowMillis();
    const int64_t period_ms = std::chrono::duration_cast<std::chrono::milliseconds>(period_).count();
    std::optional<KeySet> current;
    if (store_ != nullptr) {
      if (std::optional<crypto::SecretBytes> saved = store_->Load()) {
        for (KeySet& k : Parse(*saved)) {
          int64_t age = std::max<int64_t>(now - k.created_ms, 0);
          if (k.created_ms - now > kClockStepMs || age >= 2 * period_ms) continue;
          if (age < period_ms && !current) {
            current = std::move(k);
          } else if (!previous_) {
            previous_ = std::move(k);
          }
        }
      }
    }
    bool fresh = !current;
    if (fresh) {
      COFFRE_ASSIGN_OR_RETURN(current, KeySet::Make(now));
    }
    current_ = std::move(*current);
    int64_t age = std::max<int64_t>(now - current_.created_ms, 0);
    next_rotation_ = clock_.SteadyNow() + std::chrono::milliseconds(period_ms - age);
    if (fresh) SaveNow(Snapshot());
    return Status::Ok();
  }

  // OpenSSL's ticket key callback: 1 encrypted or opened with the current set, 2 opened with
  // the previous one (OpenSSL then issues a new ticket), 0 unknown (a full handshake), -1 error.
  int OnTicket(unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
               int encrypt) {
    std::unique_lock lock(mu_);
    bool rotated = false;
    if (!Rotate(rotated)) return -1;
    if (rotated && store_ != nullptr) {
      // Saved outside the lock: the other handshakes do not wait for the store's synced write.
      std::optional<Saved> saved = Snapshot();
      lock.unlock();
      SaveNow(std::move(saved));
      lock.lock();
    }
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
    } else if (previous_ && std::memcmp(name, previous_->name.data(), kNameBytes) == 0 &&
               clock_.NowMillis() - previous_->created_ms < 2 * PeriodMs()) {  // a restored one ages too
      set = &*previous_;
      result = 2;
    }
    if (set == nullptr) return 0;
    return Init(*set, iv, cipher, mac, /*encrypt=*/false) ? result : -1;
  }

 private:
  // Past the period: the current set becomes the previous, the previous is wiped. A server idle
  // for two periods or more keeps no set that old.
  bool Rotate(bool& rotated) {
    Clock::SteadyTime now = clock_.SteadyNow();
    if (now < next_rotation_) return true;
    Result<KeySet> fresh = KeySet::Make(clock_.NowMillis());
    if (!fresh.has_value()) return false;
    previous_.reset();
    if (now < next_rotation_ + period_) previous_ = std::move(current_);
    current_ = std::move(*fresh);
    next_rotation_ = now + period_;
    ++generation_;
    rotated = true;
    return true;
  }

  int64_t PeriodMs() const { return std::chrono::duration_cast<std::chrono::milliseconds>(period_).count(); }

  // The sets as they stand (under mu_), to save; nullopt without a store.
  struct Saved {
    uint64_t generation;
    crypto::SecretBytes bytes;
  };
  std::optional<Saved> Snapshot() {
    if (store_ == nullptr) return std::nullopt;
    Result<crypto::SecretBytes> bytes = Serialize(current_, previous_);
    if (!bytes.has_value()) return std::nullopt;
    return Saved{generation_, std::move(*bytes)};
  }

  // One save at a time, and never an older snapshot over a newer one.
  void SaveNow(std::optional<Saved> saved) {
    if (!saved) return;
    std::lock_guard lock(save_mu_);
    if (saved_generation_ && *saved_generation_ >= saved->generation) return;
    store_->Save(saved->bytes);
    saved_generation_ = saved->generation;
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
  TicketKeyStore* const store_;  // may be null
  std::mutex mu_;  // handshakes run on every io thread
  uint64_t generation_ = 0;  // under mu_: rotations so far
  std::mutex save_mu_;       // taken without mu_ held
  std::optional<uint64_t> saved_generation_;  // under save_mu_
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

Status InstallTicketKeys(SSL_CTX* ctx, const Clock& clock, std::chrono::seconds period,
                         TicketKeyStore* store) {
  if (period.count() <= 0) return InvalidArgument("the ticket key period must be positive");
  if (TicketKeysIndex() < 0) return Internal("no ex_data index for the ticket keys");
  if (SSL_CTX_get_ex_data(ctx, TicketKeysIndex()) != nullptr) {
    return FailedPrecondition("this TLS context has its ticket keys already");
  }
  auto keys = std::make_unique<TicketKeys>(clock, period, store);
  COFFRE_RETURN_IF_ERROR(keys->Start());
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
