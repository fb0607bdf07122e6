// The daemons' configuration files: TOML fields as the defaults of their flags, the precedence
// of flags and environment over them, errors that name file, line and field; secret files and
// systemd credentials; the local stack's settings file read back.
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

#include "common/files.h"
#include "config/daemon_config.h"
#include "config/secret_files.h"
#include "config/settings_file.h"
#include "test_util.h"

namespace coffre::config {
namespace {

// A small daemon: the kinds of flag coffre-hub has.
struct Flags {
  std::string listen = "127.0.0.1:1";
  int interval_ms = 100;
  uint64_t size = 0;
  double rate = 1.5;
  bool protect = false;
  std::vector<std::string> names;
  std::string once;
};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { unsetenv("COFFRE_TEST_MQTT_LISTEN"); }
  void TearDown() override { unsetenv("COFFRE_TEST_MQTT_LISTEN"); }

  std::string File(const std::string& text) {
    std::string path = (dir_.path() / "test.toml").string();
    std::ofstream(path) << text;
    return path;
  }

  // Parses `args` (after the program name); the error's text if it fails.
  std::optional<std::string> Parse(std::vector<std::string> args) {
    CLI::App app{"test"};
    app.add_option("--mqtt-listen", flags_.listen, "address");
    app.add_option("--key-check-interval-ms", flags_.interval_ms, "ms")->check(CLI::Range(50, 500));
    app.add_option("--audit-file-size", flags_.size, "size")->transform(CLI::AsSizeValue(false));
    app.add_option("--rate", flags_.rate, "rate");
    app.add_flag("--purge-protection", flags_.protect, "switch");
    app.add_option("--host-name", flags_.names, "list");
    app.add_option("--restore-from", flags_.once, "one-off")->configurable(false);
    AddDaemonConfig(app, "test", config_);
    std::vector<const char*> argv = {"test"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    try {
      app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
    } catch (const CLI::ParseError& error) {
      return std::string(error.what());
    }
    return std::nullopt;
  }

  testing::TempDir dir_;
  Flags flags_;
  DaemonConfig config_;
};

TEST_F(ConfigTest, FieldsAndTablesSetTheirFlags) {
  std::string file = File(R"(
purge_protection = true
host_name = ["a.example", "b.example"]
rate = 2.25
[mqtt]
listen = "0.0.0.0:8883"
[key_check]
interval_ms = 200
[audit]
file-size = "64KiB"
)");
  ASSERT_EQ(Parse({"--config", file}), std::nullopt);
  EXPECT_EQ(flags_.listen, "0.0.0.0:8883");
  EXPECT_EQ(flags_.interval_ms, 200);
  EXPECT_EQ(flags_.size, 64u * 1024);
  EXPECT_EQ(flags_.rate, 2.25);
  EXPECT_TRUE(flags_.protect);
  EXPECT_EQ(flags_.names, (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_EQ(config_.file, file);
}

TEST_F(ConfigTest, FlagsThenEnvironmentOverrideTheFile) {
  std::string file = File("mqtt_listen = \"10.0.0.1:1\"\nkey_check_interval_ms = 300\n");
  setenv("COFFRE_TEST_MQTT_LISTEN", "10.0.0.2:2", 1);
  ASSERT_EQ(Parse({"--config", file}), std::nullopt);
  EXPECT_EQ(flags_.listen, "10.0.0.2:2");  // environment over file
  EXPECT_EQ(flags_.interval_ms, 300);      // file over default
  flags_ = {};
  ASSERT_EQ(Parse({"--config", file, "--mqtt-listen", "10.0.0.3:3"}), std::nullopt);
  EXPECT_EQ(flags_.listen, "10.0.0.3:3");  // command line over both
  flags_ = {};
  ASSERT_EQ(Parse({}), std::nullopt);  // no file: environment over default
  EXPECT_EQ(flags_.listen, "10.0.0.2:2");
  EXPECT_EQ(flags_.interval_ms, 100);
}

TEST_F(ConfigTest, ErrorsNameTheFileLineAndField) {
  struct Case {
    std::string text, error;
  };
  const Case cases[] = {
      {"\n\nkey_check_interval_ms = 1000\n", ":3: key_check_interval_ms: Value 1000 not in range 50 to 500"},
      {"[key_check]\ninterval_ms = \"fast\"\n", ":2: key_check.interval_ms: expects an integer"},
      {"key_check_interval_ms = 1.5\n", ":1: key_check_interval_ms: expects an integer"},
      {"mqtt_lisen = \"x:1\"\n", ":1: mqtt_lisen: unknown setting (there is no --mqtt-lisen)"},
      {"mqtt_listen = 8883\nmqtt_listen = 1\n", ":2:"},  // a duplicate key is not TOML
      {"purge_protection = \"yes\"\n", ":1: purge_protection: expects true or false"},
      {"mqtt_listen = [\"a:1\", \"b:2\"]\n", ":1: mqtt_listen: expects one value, not a list"},
      {"host_name = [true]\n", ":1: host_name: expects a string or a list of them"},
      {"restore_from = \"/backup\"\n", ":1: restore_from: --restore-from is given on the command line only"},
      {"[a.b]\nc = 1\n", ":1: a.b: tables nest one level only"},
      {"mqtt_listen = \"unterminated\n", ":1:"},
      {"check_config = true\n", ":1: check_config: --check-config is given on the command line only"},
      {"rate = 2024-01-01\n", ":1: rate: expects a number"},
  };
  for (const Case& c : cases) {
    std::string file = File(c.text);
    std::optional<std::string> error = Parse({"--config", file});
    ASSERT_TRUE(error.has_value()) << c.text;
    EXPECT_NE(error->find(file + c.error), std::string::npos) << *error;
    flags_ = {};
  }
}

TEST_F(ConfigTest, AMissingFileIsAnError) {
  std::optional<std::string> error = Parse({"--config", (dir_.path() / "none.toml").string()});
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("none.toml"), std::string::npos) << *error;
}

TEST_F(ConfigTest, TheLocalStacksSettingsFileReadsBack) {
  std::string file = (dir_.path() / "written.toml").string();
  COFFRE_ASSERT_OK(WriteSettingsFile(file, {"a comment"},
                              {"--mqtt-listen", "127.0.0.1:8883", "--purge-protection",
                               "--key-check-interval-ms", "250", "--host-name", "a \"quoted\"\nname",
                               "--host-name", "b"}));
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(Parse({"--config", file}), std::nullopt);
  EXPECT_EQ(flags_.listen, "127.0.0.1:8883");
  EXPECT_TRUE(flags_.protect);
  EXPECT_EQ(flags_.interval_ms, 250);
  EXPECT_EQ(flags_.names, (std::vector<std::string>{"a \"quoted\"\nname", "b"}));
  EXPECT_FALSE(WriteSettingsFile(file, {}, {"value-without-flag"}).ok());
}

class SecretFilesTest : public ::testing::Test {
 protected:
  void TearDown() override { unsetenv("CREDENTIALS_DIRECTORY"); }
  std::filesystem::path Write(const std::string& name, mode_t mode) {
    std::filesystem::path path = dir_.path() / name;
    std::ofstream(path) << "secret\n";
    ::chmod(path.c_str(), mode);
    return path;
  }
  testing::TempDir dir_;
};

TEST_F(SecretFilesTest, OnlyFilesKeptSecretAreTaken) {
  COFFRE_EXPECT_OK(CheckSecretFile(Write("a", 0600), "the token"));
  COFFRE_EXPECT_OK(CheckSecretFile(Write("b", 0400), "the token"));
  COFFRE_EXPECT_OK(CheckSecretFile(Write("c", 0640), "the token"));  // a group may read (ssl-cert)
  for (mode_t mode : {0644, 0604, 0602, 0620, 0666}) {
    Status s = CheckSecretFile(Write("d", mode), "the token");
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << std::oct << mode;
    EXPECT_NE(s.message().find("can be read or changed by others"), std::string::npos) << s;
    EXPECT_EQ(s.message().find("secret"), std::string::npos) << "the content is never shown";
  }
  EXPECT_EQ(CheckSecretFile(dir_.path() / "none", "the token").code(), StatusCode::kNotFound);
  EXPECT_EQ(CheckSecretFile(dir_.path(), "the token").code(), StatusCode::kFailedPrecondition);
  auto missing = SecretFile((dir_.path() / "none").string(), "the service key", true);
  ASSERT_TRUE(missing.has_value());  // made at the first start
  EXPECT_FALSE(SecretFile((dir_.path() / "none").string(), "the token").has_value());
}

TEST_F(SecretFilesTest, CredentialsComeFromTheCredentialsDirectory) {
  auto unset = SecretPath("credential:vault-token");
  ASSERT_FALSE(unset.has_value());
  EXPECT_NE(unset.error().message().find("CREDENTIALS_DIRECTORY is not set"), std::string::npos);
  setenv("CREDENTIALS_DIRECTORY", dir_.path().c_str(), 1);
  Write("vault-token", 0400);
  auto path = SecretFile("credential:vault-token", "the vault token file");
  ASSERT_TRUE(path.has_value()) << path.error();
  EXPECT_EQ(*path, dir_.path() / "vault-token");
  for (const char* bad : {"credential:", "credential:../x", "credential:a/b", "credential:.."}) {
    EXPECT_FALSE(SecretPath(bad).has_value()) << bad;
  }
  auto plain = SecretPath("/etc/coffre/token");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(*plain, "/etc/coffre/token");
}

}  // namespace
}  // namespace coffre::config
