#include "restore/relation_check.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <tuple>

#include "absl/strings/ascii.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "pg/lsn.h"
#include "pg/stream_messages.h"
#include "pg/time.h"
#include "wal/catalog_digest.h"

namespace pgpitr::restore {

using pg::Lsn;

namespace {

// A position by LSN and clock, compared with the target by whichever the target is given in.
struct Target {
  bool by_time = false;
  Lsn lsn;
  pg::PgTime time = 0;
  bool After(uint64_t lsn_at, int64_t time_at) const { return by_time ? time_at > time : Lsn(lsn_at) > lsn; }
  bool Before(uint64_t lsn_at, int64_t time_at) const { return by_time ? time_at < time : Lsn(lsn_at) < lsn; }
};

Target TargetOf(const RestorePlan& plan, const proto::CaptureState& state) {
  Target t;
  t.by_time = plan.target.kind == RestoreTarget::Kind::kTime;
  t.time = plan.target.time;
  t.lsn = plan.target.kind == RestoreTarget::Kind::kLsn      ? plan.target.lsn
          : plan.target.kind == RestoreTarget::Kind::kLatest ? Lsn(state.captured_through_lsn())
                                                             : plan.reached_lsn;
  return t;
}

using Key = std::pair<std::string, std::string>;
std::map<Key, const proto::RelationDigest*> ByName(const std::vector<proto::RelationDigest>& relations) {
  std::map<Key, const proto::RelationDigest*> out;
  for (const proto::RelationDigest& r : relations) out[{r.namespace_(), r.name()}] = &r;
  return out;
}

// Whether a recorded statement names the relation: its name as a word (letters, digits, _ and $
// around it do not count), in any case. A name that appears is taken as the statement's doing.
bool Mentioned(const std::vector<std::string>& statements, const std::string& relation) {
  const std::string name = absl::AsciiStrToLower(relation);
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '$'; };
  for (const std::string& sql : statements) {
    for (size_t at = sql.find(name); at != std::string::npos; at = sql.find(name, at + 1)) {
      const bool starts = at == 0 || !word(sql[at - 1]);
      const bool ends = at + name.size() == sql.size() || !word(sql[at + name.size()]);
      if (starts && ends) return true;
    }
  }
  return false;
}

const proto::RelationDigest* Find(const std::map<Key, const proto::RelationDigest*>& m, const Key& k) {
  auto it = m.find(k);
  return it == m.end() ? nullptr : it->second;
}

}  // namespace

absl::Status ForEachRecordedStatement(
    const wal::ChangeLog& log, pg::Lsn from, pg::Lsn to,
    const std::function<absl::Status(const proto::Transaction&, const proto::Change&, const std::string&)>& visit) {
  return log.ForEachTransaction(from, to, [&](const proto::Transaction& txn) {
    return log.ForEachChange(txn, [&](const proto::Change& change) {
      if (change.kind() != proto::Change::MESSAGE || !pg::IsSchemaChangeMessage(change.message_prefix())) {
        return absl::OkStatus();
      }
      const nlohmann::json e = nlohmann::json::parse(change.message_content(), nullptr, false);
      for (const char* key : {"sql", "query"}) {
        if (e.is_object() && e.contains(key) && e[key].is_string())
          return visit(txn, change, e[key].get<std::string>());
      }
      return absl::OkStatus();
    });
  });
}

absl::StatusOr<SourceRelations> SourceRelationsAt(const wal::ChangeLog& log, const proto::CaptureState& state,
                                                  const RestorePlan& plan) {
  SourceRelations out;
  if (!plan.base.catalog_digested()) return out;  // a base from before the checks: nothing to compare with
  const Target target = TargetOf(plan, state);
  out.applies = !plan.base.event_triggers();
  out.base.assign(plan.base.relations().begin(), plan.base.relations().end());
  out.before = out.base;
  out.before_lsn = plan.base.lsn();
  out.before_time = plan.base.consistent_time();
  bool past = false;
  absl::Status read = log.ForEachCatalogCheck(Lsn(plan.base.lsn()), [&](const proto::CatalogCheck& check) {
    out.applies = out.applies || !check.event_triggers();
    if (!target.After(check.after_lsn(), check.after_time())) {
      out.before.assign(check.relations().begin(), check.relations().end());
      out.before_lsn = check.after_lsn();
      out.before_time = check.after_time();
      return absl::OkStatus();
    }
    // The first check past the target: the change it saw came after its `since` (the previous check's
    // first read, or the base), so a target at `since` or before it had the relations before.
    past = true;
    const uint64_t since_lsn = std::max(check.since_lsn(), plan.base.lsn());
    const int64_t since_time = std::max(check.since_time(), plan.base.consistent_time());
    if (target.Before(since_lsn, since_time)) out.around = check;
    return absl::CancelledError("done");
  });
  if (!read.ok() && !absl::IsCancelled(read)) return read;
  if (out.around) {
    // From the stretch's start only: every check between `before` and it saw the relations as
    // `before`, so what a statement earlier did was undone by then (and `before` may be days back:
    // the changes of every transaction in between are not read). The start is that last check's
    // first read, not its last: a statement that committed while it was reading may be missing from
    // what it saw (its snapshot came after its first read).
    const uint64_t from = std::max(plan.base.lsn(), out.around->since_lsn());
    absl::Status recorded = ForEachRecordedStatement(
        log, Lsn(from), Lsn(out.around->after_lsn()),
        [&](const proto::Transaction& txn, const proto::Change&, const std::string& sql) {
          const bool after = target.After(txn.commit_lsn(), txn.commit_time());
          (after ? out.recorded_after : out.recorded_before).push_back(absl::AsciiStrToLower(sql));
          if (!after && Lsn(txn.commit_lsn()) >= Lsn(out.around->lsn())) {
            out.recorded_while_read.push_back(absl::AsciiStrToLower(sql));
          }
          return absl::OkStatus();
        });
    if (!recorded.ok()) return recorded;
  }
  if (!past) {
    // No change seen after the target; a check after it (one that saw none) says there was none.
    out.last_check_lsn = state.last_catalog_check_lsn();
    out.last_check_time = state.last_catalog_check_time();
    out.unchecked = target.Before(out.last_check_lsn, out.last_check_time);
  }
  return out;
}

std::vector<Difference> CompareRelations(const SourceRelations& source,
                                         const std::vector<proto::RelationDigest>& after_base_schema,
                                         const std::vector<proto::RelationDigest>& restored, bool definitions) {
  std::vector<Difference> out;
  if (!source.applies) return out;
  const auto base = ByName(source.base);
  const auto before = ByName(source.before);
  std::map<Key, const proto::RelationDigest*> around;
  if (source.around) {
    for (const proto::RelationDigest& r : source.around->relations()) around[{r.namespace_(), r.name()}] = &r;
  }
  const auto made = ByName(after_base_schema);
  const auto now = ByName(restored);
  std::vector<Key> names;
  using Names = std::map<Key, const proto::RelationDigest*>;
  for (const Names* m : std::initializer_list<const Names*>{&before, &around, &now}) {
    for (const auto& [k, r] : *m) names.push_back(k);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());

  auto same = [&](const proto::RelationDigest* a, const proto::RelationDigest* b) {
    if (a == nullptr || b == nullptr) return a == b;
    return !definitions || a->digest() == b->digest();
  };
  const std::string at_before =
      fmt::format("LSN {}, {}", Lsn(source.before_lsn).ToString(), pg::FormatPgTime(source.before_time));
  for (const Key& k : names) {
    const proto::RelationDigest* r = Find(now, k);
    const proto::RelationDigest* b = Find(before, k);
    const proto::RelationDigest* n = source.around ? Find(around, k) : b;
    const proto::RelationDigest* any = r != nullptr ? r : b != nullptr ? b : n;
    Difference d{.commit_lsn = source.before_lsn,
                 .commit_time = source.before_time,
                 .statement = "",
                 .reason = "",
                 .objects = {wal::RelationObject(*any)}};
    const proto::RelationDigest* at_target = nullptr;  // the source's, as far as the checks can tell
    if (source.around && same(r, n)) {
      at_target = n;
    } else if (source.around && !same(b, n)) {
      // Changed around the target by statements recorded at their places: the replay made those
      // before the target (if it differs from before), and left those after it, or those the check
      // may not have seen, committed while it read (it differs from what the check saw). Only a
      // change no statement names is the checks' alone to see.
      if ((same(r, b) || Mentioned(source.recorded_before, k.second)) &&
          (Mentioned(source.recorded_after, k.second) || Mentioned(source.recorded_while_read, k.second))) {
        continue;
      }
      d.commit_lsn = source.around->after_lsn();
      d.commit_time = source.around->after_time();
      d.reason = fmt::format(
          "the source's relation changed between the catalog checks at {} and {}, around the target, without "
          "event triggers: the restore cannot tell on which side of the target",
          pg::FormatPgTime(std::max(source.around->since_time(), source.before_time)),
          pg::FormatPgTime(source.around->after_time()));
      out.push_back(std::move(d));
      continue;
    } else if (!same(r, b)) {
      d.reason = r == nullptr ? fmt::format(
                                    "the source had it at the target (catalog check at {}), the restore "
                                    "has not: made without event triggers, it never reached the stream",
                                    at_before)
                 : b == nullptr ? fmt::format(
                                      "the source had none at the target (catalog check at {}): dropped or "
                                      "renamed without event triggers, which the stream does not carry",
                                      at_before)
                                : fmt::format(
                                      "its definition differs from the source's at the target (catalog check "
                                      "at {}: columns, defaults, constraints, indexes or query changed "
                                      "without event triggers)",
                                      at_before);
      out.push_back(std::move(d));
      continue;
    } else {
      at_target = b;
    }
    // The same definition, but is it the same relation? One the source dropped and made again
    // after the base, which the restore still holds as the base's, keeps the earlier one's rows.
    const proto::RelationDigest* in_base = Find(base, k);
    const proto::RelationDigest* first = Find(made, k);
    if (at_target != nullptr && in_base != nullptr && at_target->oid() != in_base->oid() && first != nullptr &&
        r != nullptr && first->oid() == r->oid()) {
      d.reason = fmt::format(
          "the source dropped it and made it again under its name after the base, without event triggers (catalog "
          "check at {}): the restore holds the base's, with rows the source's may not have",
          at_before);
      out.push_back(std::move(d));
    }
  }
  return out;
}

}  // namespace pgpitr::restore
