// The log's two formats (common/log.h): text as before, and one JSON object per line with time,
// level, component and message, where what a client sent is escaped and cannot break the line.
#include "common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "common/files.h"
#include "test_util.h"

namespace coffre {
namespace {

// The lines `log` writes to stderr, captured through a file.
std::vector<std::string> Captured(const std::function<void()>& log) {
  testing::TempDir dir;
  std::string path = (dir.path() / "stderr").string();
  int saved = ::dup(STDERR_FILENO);
  int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ::dup2(file, STDERR_FILENO);
  log();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(file);
  std::vector<std::string> lines;
  std::istringstream in(ReadTextFile(path).value());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(LogTest, JsonLinesCarryTimeLevelComponentAndAnEscapedMessage) {
  ASSERT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(ParseLogFormat("xml"), std::nullopt);
  SetLogFormat(LogFormat::kJson);
  std::vector<std::string> lines = Captured([] {
    LogLine("mqtt", "a client sent \"quotes\", a \\ and\na forged line\x01\xff");
    LogLine("keys", "warning: the vault is slow");
    LogLine(LogLevel::kError, "telemetry", "INTEGRITY BREAK partition 0");
  });
  SetLogFormat(LogFormat::kText);
  ASSERT_EQ(lines.size(), 3u);  // the newline in the message did not start a line
  nlohmann::json first = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(first["level"], "info");
  EXPECT_EQ(first["component"], "mqtt");
  EXPECT_EQ(first["message"], "a client sent \"quotes\", a \\x5c and\\x0aa forged line\\x01\\xff");
  EXPECT_EQ(first["time"].get<std::string>().size(), 24u);  // 2026-12-07T04:00:00.000Z
  EXPECT_EQ(nlohmann::json::parse(lines[1])["level"], "warning");
  nlohmann::json third = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(third["level"], "error");
  EXPECT_EQ(third["component"], "telemetry");
}

TEST(LogTest, TextLinesStayAsTheyWere) {
  std::vector<std::string> lines = Captured([] { LogLine("keys", "usable again\n"); });
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("Z keys: usable again\\x0a"), std::string::npos) << lines[0];
}

}  // namespace
}  // namespace coffre
