#include "crypto/secret_bytes.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <type_traits>

#include <gtest/gtest.h>

#include "common/unique_fd.h"
#include "crypto/secure_heap.h"
#include "test_util.h"

namespace coffre::crypto {
namespace {

static_assert(!std::is_copy_constructible_v<SecretBytes>);
static_assert(!std::is_copy_assignable_v<SecretBytes>);
static_assert(std::is_nothrow_move_constructible_v<SecretBytes>);

struct Mapping {
  uintptr_t start = 0, end = 0;
  std::string vm_flags;
  size_t locked_kb = 0;
};

// The /proc/self/smaps entry of the mapping that holds `p`.
Mapping MappingOf(const void* p) {
  auto addr = reinterpret_cast<uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  Mapping current;
  bool found = false;
  while (std::getline(smaps, line)) {
    unsigned long s = 0, e = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &s, &e) == 2 && line.find(':') > line.find(' ')) {
      if (found) break;
      current = Mapping{s, e, "", 0};
      found = addr >= s && addr < e;
      continue;
    }
    if (!found) continue;
    if (line.rfind("VmFlags:", 0) == 0) current.vm_flags = line.substr(8);
    if (line.rfind("Locked:", 0) == 0) current.locked_kb = std::stoul(line.substr(7));
  }
  EXPECT_TRUE(found) << "no mapping holds " << p;
  return current;
}

// Reads the mapping through /proc/self/mem, as an outside observer would, and tells whether
// `needle` occurs in it.
bool MappingContains(const Mapping& m, ByteSpan needle) {
  UniqueFd fd(::open("/proc/self/mem", O_RDONLY | O_CLOEXEC));
  EXPECT_TRUE(bool(fd));
  Bytes buf(m.end - m.start);
  ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), static_cast<off_t>(m.start));
  EXPECT_EQ(n, static_cast<ssize_t>(buf.size()));
  return std::search(buf.begin(), buf.end(), needle.begin(), needle.end()) != buf.end();
}

TEST(SecretBytesTest, PrintsItsSizeNeverItsBytes) {
  auto s = SecretBytes::CopyOf(AsBytes("topsecretkeybytes"));
  std::ostringstream os;
  os << *s;
  EXPECT_EQ(os.str(), "<secret 17B>");
}

TEST(SecretBytesTest, LivesInTheSecureHeap) {
  auto s = SecretBytes::Random(32);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(CRYPTO_secure_allocated(s->Reveal().data()));
}

TEST(SecretBytesTest, SecureHeapIsExcludedFromCoreDumpsAndLockedWhenAllowed) {
  auto s = SecretBytes::Random(32);
  Mapping m = MappingOf(s->Reveal().data());
  EXPECT_NE(m.vm_flags.find(" dd"), std::string::npos) << "VmFlags:" << m.vm_flags;
  SecureHeapInfo info = GetSecureHeapInfo();
  EXPECT_TRUE(info.initialized);
  if (info.locked) {
    EXPECT_NE(m.vm_flags.find(" lo"), std::string::npos) << "VmFlags:" << m.vm_flags;
    EXPECT_GT(m.locked_kb, 0u);
  } else {
    GTEST_LOG_(WARNING) << "mlock refused (RLIMIT_MEMLOCK): secure heap not locked";
  }
}

TEST(SecretBytesTest, BytesAreGoneFromMemoryAfterDestruction) {
  // A recognisable 32-byte pattern, built so the test itself never holds it contiguously.
  auto secret = SecretBytes::Allocate(32);
  ASSERT_TRUE(secret.has_value());
  for (size_t i = 0; i < 32; ++i) secret->RevealMutable()[i] = std::byte(0xc3 ^ (i * 7));
  Mapping m = MappingOf(secret->Reveal().data());
  auto pattern = secret->Clone();  // the needle, also in the secure heap
  ASSERT_TRUE(pattern.has_value());
  Bytes needle(pattern->Reveal().begin(), pattern->Reveal().end());
  pattern->Wipe();
  ASSERT_TRUE(MappingContains(m, needle));  // the probe works: the key is there
  *secret = SecretBytes();                  // destroy
  bool still_there = MappingContains(m, needle);
  Cleanse(needle);
  EXPECT_FALSE(still_there);
}

TEST(SecretBytesTest, WipeEmptiesAndMoveTransfersOwnership) {
  auto a = SecretBytes::Random(32);
  const std::byte* p = a->Reveal().data();
  SecretBytes b = std::move(*a);
  EXPECT_TRUE(a->empty());
  EXPECT_EQ(b.Reveal().data(), p);
  b.Wipe();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0u);
}

TEST(SecretBytesTest, EqualityComparesContents) {
  auto a = SecretBytes::CopyOf(AsBytes("0123456789abcdef"));
  auto b = SecretBytes::CopyOf(AsBytes("0123456789abcdef"));
  auto c = SecretBytes::CopyOf(AsBytes("0123456789abcdeX"));
  auto d = SecretBytes::CopyOf(AsBytes("0123"));
  EXPECT_TRUE(*a == *b);
  EXPECT_FALSE(*a == *c);
  EXPECT_FALSE(*a == *d);
}

TEST(SecretBytesTest, RandomKeysDiffer) {
  auto a = SecretBytes::Random(32);
  auto b = SecretBytes::Random(32);
  EXPECT_FALSE(*a == *b);
}

TEST(SecretBytesTest, ExhaustedSecureHeapIsAnErrorNotACrash) {
  std::vector<SecretBytes> held;
  Status last;
  for (int i = 0; i < 100; ++i) {
    auto s = SecretBytes::Allocate(64 << 10);
    if (!s.has_value()) {
      last = s.error();
      break;
    }
    held.push_back(std::move(*s));
  }
  EXPECT_THAT(last, testing::StatusIs(StatusCode::kResourceExhausted));
}

}  // namespace
}  // namespace coffre::crypto
