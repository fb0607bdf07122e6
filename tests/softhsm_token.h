#pragma once
// SoftHsmToken: a SoftHSM2 token of the test's own, never the system's: a temp dir with its
// own softhsm2.conf and token dir, SOFTHSM2_CONF pointing there for this process (and the
// processes it starts), and a token initialised with `softhsm2-util --init-token --free`.
// One per test; the destructor removes the dir. Not thread-safe (it sets the environment).

#include <cstdlib>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "common/files.h"
#include "crypto/secret_bytes.h"
#include "test_util.h"

namespace coffre::testing {

inline constexpr const char* kSoftHsmModule = "/usr/lib/softhsm/libsofthsm2.so";

class SoftHsmToken {
 public:
  explicit SoftHsmToken(std::string label = "coffre-test", std::string pin = "1234-user-pin")
      : label_(std::move(label)), pin_(std::move(pin)) {
    std::filesystem::create_directories(dir_.path() / "tokens");
    std::string conf = "directories.tokendir = " + (dir_.path() / "tokens").string() +
                       "\nobjectstore.backend = file\nlog.level = ERROR\n";
    EXPECT_TRUE(WriteFileDurably(conf_path(), AsBytes(conf), 0600).ok());
    ::setenv("SOFTHSM2_CONF", conf_path().c_str(), 1);
    Init(label_);
  }
  ~SoftHsmToken() { ::unsetenv("SOFTHSM2_CONF"); }
  SoftHsmToken(const SoftHsmToken&) = delete;
  SoftHsmToken& operator=(const SoftHsmToken&) = delete;

  // softhsm2-util with `args`, its output into the test's log; true when it exits 0.
  bool Util(const std::string& args) const {
    std::string command = "softhsm2-util " + args + " >" + (dir_.path() / "util.log").string() +
                          " 2>&1";
    return std::system(command.c_str()) == 0;
  }

  // A fresh token labelled `label` in the first free slot.
  void Init(const std::string& label) const {
    ASSERT_TRUE(Util("--init-token --free --label " + label + " --pin " + pin_ +
                     " --so-pin 5678-so-pin"))
        << "softhsm2-util --init-token failed (is softhsm2 installed? scripts/setup.sh)";
  }
  // Deletes the token and everything on it (its keys), as if it were replaced.
  void Delete(const std::string& label) const {
    ASSERT_TRUE(Util("--delete-token --token " + label));
  }

  const std::string& label() const { return label_; }
  const std::string& pin() const { return pin_; }
  crypto::SecretBytes Pin(const std::string& pin) const {
    return std::move(*crypto::SecretBytes::CopyOf(AsBytes(pin)));
  }
  crypto::SecretBytes Pin() const { return Pin(pin_); }
  std::filesystem::path conf_path() const { return dir_.path() / "softhsm2.conf"; }
  std::filesystem::path token_dir() const { return dir_.path() / "tokens"; }

 private:
  TempDir dir_;
  std::string label_;
  std::string pin_;
};

}  // namespace coffre::testing
