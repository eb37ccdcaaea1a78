// TempDir: a fresh folder under the system temp dir for one test, removed with everything in it
// when the test ends.
//   TempDir dir("pgpitr_change_log_");  ChangeLog::Open(dir.path() / "log", ...);
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace pgpitr::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "pgpitr_test_") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed for " << pattern;
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace pgpitr::testing
