// The sequence rule of a restore (restore/sequences.h), as a specification: a restored sequence
// never hands out a value the source had handed out by the target point. Samples are capture's
// checks (values read at a WAL position and a time); the target is an LSN or a time.
#include "restore/sequences.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pgpitr::restore {
namespace {

proto::SequenceSample Sample(uint64_t check_lsn, pg::PgTime check_time,
                             std::vector<std::tuple<std::string, int64_t, bool>> values) {
  proto::SequenceSample s;
  s.set_check_lsn(check_lsn);
  s.set_check_time(check_time);
  for (const auto& [name, value, called] : values) {
    proto::SequenceSample::Sequence* seq = s.add_sequences();
    seq->set_namespace_("public");
    seq->set_name(name);
    seq->set_last_value(value);
    seq->set_is_called(called);
  }
  return s;
}

proto::CaptureState CheckedAt(uint64_t lsn, pg::PgTime time) {
  proto::CaptureState state;
  state.set_last_sequence_check_lsn(lsn);
  state.set_last_sequence_check_time(time);
  return state;
}

RestorePlan ToLsn(uint64_t lsn) {
  RestorePlan plan;
  plan.target = RestoreTarget::Latest();
  plan.target.kind = RestoreTarget::Kind::kLsn;
  plan.reached_lsn = pg::Lsn(lsn);
  return plan;
}

RestorePlan ToTime(pg::PgTime time, uint64_t reached_lsn) {
  RestorePlan plan;
  plan.target.kind = RestoreTarget::Kind::kTime;
  plan.target.time = time;
  plan.reached_lsn = pg::Lsn(reached_lsn);
  return plan;
}

TEST(SequenceChoice, TheFirstCheckAfterTheTargetGivesTheValue) {
  // Checks at 100 (a=5), 200 (a=9), 300 (a=14); the target is LSN 150.
  const SequenceChoice choice(
      {Sample(100, 1000, {{"a", 5, true}}), Sample(200, 2000, {{"a", 9, true}}), Sample(300, 3000, {{"a", 14, true}})},
      CheckedAt(300, 3000), ToLsn(150));
  const SequenceSetting a = choice.For("public", "a", true, std::nullopt);
  ASSERT_TRUE(a.value.has_value());
  EXPECT_EQ(*a.value, 9) << "the values handed out up to LSN 150 are all at or below the check at 200";
  EXPECT_TRUE(a.is_called);
  EXPECT_FALSE(a.noted);
}

TEST(SequenceChoice, ASequenceUnchangedSinceItsLastSampleKeepsItWhenCaptureCheckedAfterTheTarget) {
  // Samples hold only the sequences that changed: b last moved at 100, capture checked up to 300.
  const SequenceChoice choice({Sample(100, 1000, {{"b", 3, true}}), Sample(200, 2000, {{"a", 1, true}})},
                              CheckedAt(300, 3000), ToLsn(250));
  const SequenceSetting b = choice.For("public", "b", true, std::nullopt);
  ASSERT_TRUE(b.value.has_value());
  EXPECT_EQ(*b.value, 3);
  EXPECT_TRUE(b.noted);
  EXPECT_EQ(b.why, "unchanged up to a check after the target");
}

TEST(SequenceChoice, WithoutACheckAfterTheTargetTheLastOneIsUsedAndSaidSo) {
  const SequenceChoice choice({Sample(100, 1000, {{"a", 5, true}})}, CheckedAt(100, 1000), ToLsn(500));
  const SequenceSetting a = choice.For("public", "a", true, std::nullopt);
  ASSERT_TRUE(a.value.has_value());
  EXPECT_EQ(*a.value, 5);
  EXPECT_TRUE(a.noted);
  EXPECT_EQ(a.why, "the last check, before the target: none was made after it");
}

TEST(SequenceChoice, AnOwnedColumnHoldingMoreRaisesAnAscendingSequence) {
  const SequenceChoice choice({Sample(200, 2000, {{"a", 9, true}})}, CheckedAt(200, 2000), ToLsn(150));
  const SequenceSetting raised = choice.For("public", "a", true, 12);
  EXPECT_EQ(raised.value, 12);
  EXPECT_TRUE(raised.is_called);
  EXPECT_EQ(raised.why, "the first check after the target, raised to the largest value in its column");
  // A column holding less leaves the sample's value; a descending sequence is never raised.
  EXPECT_EQ(choice.For("public", "a", true, 4).value, 9);
  EXPECT_EQ(choice.For("public", "a", false, 12).value, 9);
}

TEST(SequenceChoice, ANeverCalledSequenceWithRowsInItsColumnStartsAfterThem) {
  // setval(a, 1, false): the next nextval() returns 1; rows up to 7 restored: it must return 8.
  const SequenceChoice choice({Sample(200, 2000, {{"a", 1, false}})}, CheckedAt(200, 2000), ToLsn(150));
  const SequenceSetting a = choice.For("public", "a", true, 7);
  EXPECT_EQ(a.value, 7);
  EXPECT_TRUE(a.is_called);
  const SequenceSetting untouched = choice.For("public", "a", true, std::nullopt);
  EXPECT_EQ(untouched.value, 1);
  EXPECT_FALSE(untouched.is_called);
}

TEST(SequenceChoice, NoSampleTakesTheOwnedColumnOrKeepsTheBasesValue) {
  const SequenceChoice choice({}, CheckedAt(0, 0), ToLsn(150));
  const SequenceSetting owned = choice.For("public", "c", true, 40);
  EXPECT_EQ(owned.value, 40);
  EXPECT_TRUE(owned.noted);
  EXPECT_EQ(owned.why, "the largest value in its column");
  EXPECT_EQ(choice.For("public", "c", true, std::nullopt).value, std::nullopt);
}

TEST(SequenceChoice, ByTimeACheckAtTheTargetInstantCountsAsAfterIt) {
  // The target is time 2000: the check stamped 2000 reflects every value handed out before it.
  const SequenceChoice choice(
      {Sample(100, 1000, {{"a", 5, true}}), Sample(200, 2000, {{"a", 9, true}}), Sample(300, 3000, {{"a", 14, true}})},
      CheckedAt(300, 3000), ToTime(2000, 180));
  EXPECT_EQ(choice.For("public", "a", true, std::nullopt).value, 9);
  const SequenceChoice just_before({Sample(100, 1000, {{"a", 5, true}}), Sample(200, 2000, {{"a", 9, true}})},
                                   CheckedAt(200, 2000), ToTime(1999, 180));
  EXPECT_EQ(just_before.For("public", "a", true, std::nullopt).value, 9);
}

TEST(SequenceChoice, SequencesAreToldApartBySchemaAndName) {
  proto::SequenceSample s = Sample(200, 2000, {{"a", 9, true}});
  proto::SequenceSample::Sequence* other = s.add_sequences();
  other->set_namespace_("audit");
  other->set_name("a");
  other->set_last_value(70);
  other->set_is_called(true);
  const SequenceChoice choice({s}, CheckedAt(200, 2000), ToLsn(150));
  EXPECT_EQ(choice.For("public", "a", true, std::nullopt).value, 9);
  EXPECT_EQ(choice.For("audit", "a", true, std::nullopt).value, 70);
  EXPECT_EQ(choice.For("other", "a", true, std::nullopt).value, std::nullopt);
}

}  // namespace
}  // namespace pgpitr::restore
