// ChangeChunkDecoder: reads a stored proto::ChangeChunk (a transaction's changes, see
// wal/change_log.h) into Change messages it reuses from chunk to chunk, without protobuf's generic
// parser: replay reads millions of them, and parsing was most of its reading time.
//   ChangeChunkDecoder decoder;
//   if (!decoder.Decode(value)) ...;  // malformed, or a form it does not read: use protobuf's parser
//   for (size_t i = 0; i < decoder.size(); ++i) Visit(decoder.change(i));
// It reads the protobuf wire format of the messages ChangeChunk, Change, Tuple and Value (their field
// numbers in proto/pgpitr.proto); unknown fields are skipped, as protobuf skips them. What it
// decodes equals what ParseFromString makes of the same bytes (tests/wal/change_chunk_test.cc).
// Not thread-safe; the changes stay valid until the next Decode.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "proto/pgpitr.pb.h"

namespace pgpitr::wal {

class ChangeChunkDecoder {
 public:
  ChangeChunkDecoder() = default;
  ChangeChunkDecoder(const ChangeChunkDecoder&) = delete;
  ChangeChunkDecoder& operator=(const ChangeChunkDecoder&) = delete;
  ~ChangeChunkDecoder();

  // False when the bytes are not a well-formed chunk (the changes are then unspecified).
  [[nodiscard]] bool Decode(std::string_view bytes);

  uint64_t first_seq() const { return first_seq_; }
  size_t size() const { return size_; }
  const proto::Change& change(size_t i) const { return changes_[i]; }
  // The change, for a caller that takes it by Swap (the message swapped in is reused).
  proto::Change& mutable_change(size_t i) { return changes_[i]; }

 private:
  uint64_t first_seq_ = 0;
  size_t size_ = 0;
  std::vector<proto::Change> changes_;       // the first size_ are this chunk's; the rest wait for reuse
  std::vector<proto::Tuple*> spare_tuples_;  // owned
};

}  // namespace pgpitr::wal
