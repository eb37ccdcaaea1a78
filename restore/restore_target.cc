#include "restore/restore_target.h"

#include <cctype>
#include <charconv>
#include <ctime>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace pgpitr::restore {

namespace {

// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool DaysInMonthOk(int y, int m, int d) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDays[m - 1] + (m == 2 && leap ? 1 : 0);
}

class Cursor {
 public:
  explicit Cursor(std::string_view s) : s_(s) {}
  bool Digits(int count, int* out) {
    if (pos_ + count > s_.size()) return false;
    int v = 0;
    for (int i = 0; i < count; ++i) {
      const char c = s_[pos_ + i];
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      v = v * 10 + (c - '0');
    }
    pos_ += count;
    *out = v;
    return true;
  }
  bool Char(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool AtEnd() const { return pos_ == s_.size(); }
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void Skip() { ++pos_; }

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

absl::Status BadTime(std::string_view text) {
  return absl::InvalidArgumentError(
      fmt::format("'{}' is not a time with an offset; write it as '2026-11-25 10:41:07.123456+00' or "
                  "'2026-11-25T10:41:07Z'",
                  text));
}

}  // namespace

absl::StatusOr<pg::PgTime> ParseTimestamp(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  Cursor c(text);
  int year, month, day, hour, minute, second;
  if (!c.Digits(4, &year) || !c.Char('-') || !c.Digits(2, &month) || !c.Char('-') || !c.Digits(2, &day)) {
    return BadTime(text);
  }
  if (!(c.Char(' ') || c.Char('T') || c.Char('t'))) return BadTime(text);
  if (!c.Digits(2, &hour) || !c.Char(':') || !c.Digits(2, &minute) || !c.Char(':') || !c.Digits(2, &second)) {
    return BadTime(text);
  }
  int64_t micros = 0;
  if (c.Char('.')) {
    int digits = 0;
    while (std::isdigit(static_cast<unsigned char>(c.Peek()))) {
      if (digits == 6) {
        return absl::InvalidArgumentError(
            fmt::format("'{}' has more than 6 fraction digits; PostgreSQL keeps microseconds", text));
      }
      micros = micros * 10 + (c.Peek() - '0');
      c.Skip();
      ++digits;
    }
    if (digits == 0) return BadTime(text);
    for (int i = digits; i < 6; ++i) micros *= 10;
  }
  int offset_minutes = 0;
  if (c.Char('Z') || c.Char('z')) {
  } else if (c.Peek() == '+' || c.Peek() == '-') {
    const int sign = c.Peek() == '-' ? -1 : 1;
    c.Skip();
    int oh = 0, om = 0;
    if (!c.Digits(2, &oh)) return BadTime(text);
    if (c.Char(':')) {
      if (!c.Digits(2, &om)) return BadTime(text);
    } else if (!c.AtEnd()) {
      if (!c.Digits(2, &om)) return BadTime(text);
    }
    if (oh > 15 || om > 59) return BadTime(text);
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return BadTime(text);
  }
  if (!c.AtEnd()) return BadTime(text);
  if (!DaysInMonthOk(year, month, day) || hour > 23 || minute > 59 || second > 59) {
    return absl::InvalidArgumentError(fmt::format("'{}' is not a valid date and time", text));
  }
  const int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t unix_seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return pg::PgTimeFromUnixMicros(unix_seconds * 1'000'000 + micros);
}

absl::StatusOr<RestoreTarget> RestoreTarget::AtTime(std::string_view text, bool exclusive) {
  absl::StatusOr<pg::PgTime> t = ParseTimestamp(text);
  if (!t.ok()) return t.status();
  RestoreTarget target;
  target.kind = Kind::kTime;
  target.time = *t;
  target.exclusive = exclusive;
  return target;
}

absl::StatusOr<RestoreTarget> RestoreTarget::AtLsn(std::string_view text, bool exclusive) {
  absl::StatusOr<pg::Lsn> lsn = pg::Lsn::Parse(text);
  if (!lsn.ok()) return lsn.status();
  RestoreTarget target;
  target.kind = Kind::kLsn;
  target.lsn = *lsn;
  target.exclusive = exclusive;
  return target;
}

RestoreTarget RestoreTarget::AtMark(std::string_view name, bool exclusive) {
  RestoreTarget target;
  target.kind = Kind::kMark;
  target.mark = std::string(name);
  target.exclusive = exclusive;
  return target;
}

std::string RestoreTarget::ToString() const {
  const char* bound = exclusive ? "exclusive" : "inclusive";
  switch (kind) {
    case Kind::kTime:
      return fmt::format("time {} ({})", pg::FormatPgTime(time), bound);
    case Kind::kLsn:
      return fmt::format("LSN {} ({})", lsn.ToString(), bound);
    case Kind::kLatest:
      return "the latest captured point";
    case Kind::kMark:
      return fmt::format("mark '{}' ({})", mark, bound);
  }
  return "";
}

}  // namespace pgpitr::restore
