#include "cli/verify_at_rest.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "common/files.h"
#include "storage/file_cipher.h"
#include "test_util.h"

namespace coffre::cli {
namespace {

// The raw scan reads files in 1 MiB chunks: a text is found wherever it lies, across a chunk's
// edge and at the very end of a file too.
TEST(VerifyAtRestTest, TheRawScanFindsTextsAcrossChunkEdges) {
  testing::TempDir dir;
  auto data = dir.path() / "hub";
  std::filesystem::create_directories(data / "telemetry" / "0");
  COFFRE_ASSERT_OK(storage::CreateServiceKeyFile(dir.path() / "service.key"));
  std::string big(3 << 20, '\0');
  const std::string edge = "secret-across-the-edge";
  big.replace((size_t{1} << 20) - 5, edge.size(), edge);
  const std::string tail = "secret-at-the-end";
  big.replace(big.size() - tail.size(), tail.size(), tail);
  COFFRE_ASSERT_OK(WriteFileDurably(data / "telemetry" / "0" / "big.seg", AsBytes(big), 0600));
  COFFRE_ASSERT_OK(WriteFileDurably(data / "small", AsBytes(std::string("x") + edge), 0600));

  VerifyAtRestOptions o{data, dir.path() / "service.key", {edge, tail, "never-written"}};
  COFFRE_ASSERT_OK_AND_ASSIGN(AtRestReport report, VerifyAtRest(o));
  EXPECT_EQ(report.raw_files, 2u);
  auto found = [&](const std::string& file, const std::string& text) {
    std::string line = "raw file " + (data / file).string() + " contains '" + text + "'";
    return std::find(report.findings.begin(), report.findings.end(), line) != report.findings.end();
  };
  EXPECT_TRUE(found("telemetry/0/big.seg", edge));
  EXPECT_TRUE(found("telemetry/0/big.seg", tail));
  EXPECT_TRUE(found("small", edge));
  EXPECT_FALSE(found("small", tail));
  for (const std::string& f : report.findings) EXPECT_EQ(f.find("never-written"), std::string::npos) << f;
}

}  // namespace
}  // namespace coffre::cli
