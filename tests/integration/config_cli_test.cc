// The config file and PGPITR_* variables apply to every command that takes their options, not only
// `run`: `pgpitr info --config /etc/pgpitr/app.toml` finds the repository and the source there, and
// flags > environment > file.
#include <fstream>

#include "cli_process.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace pgpitr::testing {
namespace {

class ConfigCliTest : public ServerTest {
 protected:
  std::string WriteConfig(const std::string& text) {
    if (config_dir_.empty()) config_dir_ = MakeTempDir("pgpitr-config-");
    const std::filesystem::path file = config_dir_ / "app.toml";
    std::ofstream(file) << text;
    return file.string();
  }

  // This process's environment without any pgpitr setting, plus `extra`.
  static std::vector<std::string> Environment(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      if (entry.rfind("PGPITR_", 0) == 0 || entry.rfind("DATABASE_URL=", 0) == 0) continue;
      env.push_back(entry);
    }
    env.insert(env.end(), extra.begin(), extra.end());
    return env;
  }

  void TearDown() override {
    ServerTest::TearDown();
    std::error_code ec;
    if (!config_dir_.empty()) std::filesystem::remove_all(config_dir_, ec);
  }

  std::filesystem::path config_dir_;
};

TEST_F(ConfigCliTest, EveryCommandTakesTheRepositoryAndSourceFromTheConfigFile) {
  CaptureTenRows();
  const std::string config = WriteConfig(fmt::format("repo = \"{}\"\nsource = \"{}\"\nretention_days = \"0\"\n",
                                                     repo_dir_.string(), server_->ConnectionString("app")));
  const std::vector<std::string> env = Environment();

  CliResult r = RunPgpitr({"info", "--config", config, "--json"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json info = nlohmann::json::parse(r.out);
  EXPECT_EQ(info["database"], "app");
  EXPECT_FALSE(info["window"].is_null());
  ASSERT_FALSE(info["slot_status"].is_null()) << "the source came from the file too";
  EXPECT_TRUE(info["slot_status"]["exists"].get<bool>());

  r = RunPgpitr({"verify", "--config", config}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("restorable: "), std::string::npos) << r.out;

  r = RunPgpitr({"backup", "--config", config}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("taken: LSN "), std::string::npos) << r.out;

  r = RunPgpitr({"mark", "before-the-test-ends", "--config", config}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;

  r = RunPgpitr({"retention", "--config", config}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("keeps everything"), std::string::npos) << "retention_days = \"0\" from the file: " << r.out;

  r = RunPgpitr({"restore", "--config", config, "--target", server_->ConnectionString("restored"), "--latest"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(FingerprintOf("restored"), FingerprintOf("app"));
}

TEST_F(ConfigCliTest, TheEnvironmentWinsOverTheFileAndAFlagOverBoth) {
  CaptureTenRows();
  const std::string config = WriteConfig("repo = \"/nonexistent/from-the-file\"\n");
  CliResult r = RunPgpitr({"info", "--config", config}, Environment({"PGPITR_REPO=" + repo_dir_.string()}));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("window       "), std::string::npos) << r.out;

  r = RunPgpitr({"verify", "--repo", repo_dir_.string()},
                Environment({"PGPITR_CONFIG=" + config, "PGPITR_REPO=/nonexistent/from-the-environment"}));
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // Without the flag, the file named by PGPITR_CONFIG is used: its repository does not exist.
  r = RunPgpitr({"verify"}, Environment({"PGPITR_CONFIG=" + config}));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.LastErrorLine().find("/nonexistent/from-the-file"), std::string::npos) << r.err;
}

TEST_F(ConfigCliTest, ACommandWithoutARepositorySaysEveryWayToGiveOne) {
  for (const char* command : {"info", "verify", "restore", "backup", "retention"}) {
    std::vector<std::string> args = {command};
    if (std::string(command) == "restore") args = {"restore", "--target", "dbname=x", "--latest"};
    const CliResult r = RunPgpitr(args, Environment());
    EXPECT_EQ(r.exit_code, 2) << command << ": " << r.err;
    EXPECT_NE(r.LastErrorLine().find(std::string(command) +
                                     " needs a repository: --repo DIR (or PGPITR_REPO, or repo = \"DIR\" in the "
                                     "--config file)"),
              std::string::npos)
        << r.err;
  }
}

}  // namespace
}  // namespace pgpitr::testing
