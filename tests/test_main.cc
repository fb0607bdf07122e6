// Shared main for the GoogleTest binaries: the secure heap must exist before any secret does,
// as in every Coffre process. Vault master keys made by the tests (and by the stacks they start)
// use the cheap test costs (COFFRE_TEST_ONLY_FAST_KDF, vault/seal/master_key.cc) unless the
// environment says otherwise; tests/vault/master_key_test.cc covers the default costs.
#include <gtest/gtest.h>

#include <cstdlib>

#include "crypto/secure_heap.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  setenv("COFFRE_TEST_ONLY_FAST_KDF", "1", /*overwrite=*/0);
  coffre::Status s = coffre::crypto::InitSecureHeap();
  if (!s.ok()) {
    fprintf(stderr, "secure heap: %s\n", s.ToString().c_str());
    return 1;
  }
  return RUN_ALL_TESTS();
}
