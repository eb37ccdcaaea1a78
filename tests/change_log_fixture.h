// ChangeLogFixture: a change log in a fresh temp folder and its writer, for the unit tests that
// write a log through ChangeLogWriter to test what reads it (planning, the change feed).
//   class PlanRestoreTest : public testing::ChangeLogFixture { void SetUp() override { OpenLog(); ... } };
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "tests/temp_dir.h"
#include "wal/change_log.h"
#include "wal/change_log_writer.h"

namespace pgpitr::testing {

class ChangeLogFixture : public ::testing::Test {
 protected:
  void OpenLog() {
    absl::StatusOr<std::unique_ptr<wal::ChangeLog>> log =
        wal::ChangeLog::Open(dir_.path() / "changelog", wal::ChangeLog::Mode::kWriter);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = *std::move(log);
    absl::StatusOr<std::unique_ptr<wal::ChangeLogWriter>> writer = wal::ChangeLogWriter::Create(log_.get());
    ASSERT_TRUE(writer.ok()) << writer.status();
    writer_ = *std::move(writer);
  }
  void Apply(const wal::PgoutputMessage& m) {
    absl::Status s = writer_->Apply(m);
    ASSERT_TRUE(s.ok()) << s;
  }
  void Sync() {
    absl::Status s = writer_->Sync();
    ASSERT_TRUE(s.ok()) << s;
  }

  TempDir dir_;
  std::unique_ptr<wal::ChangeLog> log_;
  std::unique_ptr<wal::ChangeLogWriter> writer_;
};

}  // namespace pgpitr::testing
