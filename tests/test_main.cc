// Shared main for the GoogleTest binaries: the secure heap must exist before any secret does,
// as in every Coffre process.
#include <gtest/gtest.h>

#include "crypto/secure_heap.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  coffre::Status s = coffre::crypto::InitSecureHeap();
  if (!s.ok()) {
    fprintf(stderr, "secure heap: %s\n", s.ToString().c_str());
    return 1;
  }
  return RUN_ALL_TESTS();
}
