#include "wal/change_chunk.h"

namespace pgpitr::wal {

namespace {

// The protobuf wire format, as far as these messages use it:
//   message  := field*
//   field    := tag:varint (field_number << 3 | wire_type) payload
//   payload  := varint (wire type 0) | 8 bytes (1) | length:varint bytes (2) | 4 bytes (5)
// Groups (wire types 3 and 4) are not read: no message of ours has one.
class Wire {
 public:
  static constexpr uint64_t kMaxField = (1u << 29) - 1;

  explicit Wire(std::string_view bytes) : at_(bytes.data()), end_(bytes.data() + bytes.size()) {}

  bool done() const { return at_ == end_; }

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (at_ == end_) return false;
      const uint8_t byte = static_cast<uint8_t>(*at_++);
      result |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        *v = result;
        return true;
      }
    }
    return false;  // more than 10 bytes
  }

  bool Tag(uint32_t* field, uint32_t* wire_type) {
    uint64_t tag = 0;
    if (!Varint(&tag) || tag > UINT32_MAX || (tag >> 3) == 0 || (tag >> 3) > kMaxField) return false;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire_type = static_cast<uint32_t>(tag & 7);
    return true;
  }

  bool Bytes(std::string_view* out) {
    uint64_t n = 0;
    if (!Varint(&n) || n > static_cast<uint64_t>(end_ - at_)) return false;
    *out = std::string_view(at_, n);
    at_ += n;
    return true;
  }

  bool Skip(uint32_t wire_type) {
    uint64_t ignored = 0;
    std::string_view bytes;
    switch (wire_type) {
      case 0:
        return Varint(&ignored);
      case 1:
        return Advance(8);
      case 2:
        return Bytes(&bytes);
      case 5:
        return Advance(4);
      default:
        return false;
    }
  }

 private:
  bool Advance(size_t n) {
    if (static_cast<size_t>(end_ - at_) < n) return false;
    at_ += n;
    return true;
  }

  const char* at_;
  const char* end_;
};

// A scalar field: its value when the wire type is a varint; other wire types are unknown fields.
// Protobuf refuses a proto3 string field that is not UTF-8; so does the decoder, to read the same.
bool IsUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < n; ++k) {
      const uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and what is past U+10FFFF are not UTF-8.
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n;
  }
  return true;
}

#define PGPITR_VARINT_FIELD(set)      \
  if (wire_type == 0) {               \
    uint64_t v = 0;                   \
    if (!in.Varint(&v)) return false; \
    set;                              \
    continue;                         \
  }

bool DecodeValue(std::string_view bytes, proto::Value* value) {
  Wire in(bytes);
  while (!in.done()) {
    uint32_t field = 0, wire_type = 0;
    if (!in.Tag(&field, &wire_type)) return false;
    if (field == 1) PGPITR_VARINT_FIELD(value->set_kind(static_cast<proto::Value::Kind>(v)))
    if (field == 2 && wire_type == 2) {
      std::string_view data;
      if (!in.Bytes(&data)) return false;
      value->mutable_data()->assign(data);  // reuses the string's buffer
      continue;
    }
    if (!in.Skip(wire_type)) return false;
  }
  return true;
}

bool DecodeTuple(std::string_view bytes, proto::Tuple* tuple) {
  Wire in(bytes);
  while (!in.done()) {
    uint32_t field = 0, wire_type = 0;
    if (!in.Tag(&field, &wire_type)) return false;
    if (field == 1 && wire_type == 2) {
      std::string_view value;
      if (!in.Bytes(&value) || !DecodeValue(value, tuple->add_values())) return false;
      continue;
    }
    if (!in.Skip(wire_type)) return false;
  }
  return true;
}

bool DecodeChange(std::string_view bytes, proto::Change* change, std::vector<proto::Tuple*>* spare) {
  // A tuple from the spares (cleared: its values and their strings stay allocated for reuse).
  auto tuple = [&](bool old) {
    if (old ? !change->has_old_tuple() : !change->has_new_tuple()) {
      proto::Tuple* t = nullptr;
      if (spare->empty()) {
        t = new proto::Tuple;
      } else {
        t = spare->back();
        spare->pop_back();
        t->Clear();
      }
      old ? change->set_allocated_old_tuple(t) : change->set_allocated_new_tuple(t);
    }
    return old ? change->mutable_old_tuple() : change->mutable_new_tuple();
  };
  Wire in(bytes);
  while (!in.done()) {
    uint32_t field = 0, wire_type = 0;
    if (!in.Tag(&field, &wire_type)) return false;
    std::string_view payload;
    switch (field) {
      case 1:
        PGPITR_VARINT_FIELD(change->set_kind(static_cast<proto::Change::Kind>(v)))
        break;
      case 2:
        PGPITR_VARINT_FIELD(change->set_schema_id(static_cast<uint32_t>(v)))
        break;
      case 3:
        if (wire_type != 2) break;
        if (!in.Bytes(&payload) || !DecodeTuple(payload, tuple(false))) return false;
        continue;
      case 4:
        PGPITR_VARINT_FIELD(change->set_old_kind(static_cast<proto::Change::OldKind>(v)))
        break;
      case 5:
        if (wire_type != 2) break;
        if (!in.Bytes(&payload) || !DecodeTuple(payload, tuple(true))) return false;
        continue;
      case 6:
        PGPITR_VARINT_FIELD(change->add_truncated_schema_ids(static_cast<uint32_t>(v)))
        if (wire_type == 2) {  // packed, as proto3 writes repeated scalars
          if (!in.Bytes(&payload)) return false;
          Wire packed(payload);
          while (!packed.done()) {
            uint64_t v = 0;
            if (!packed.Varint(&v)) return false;
            change->add_truncated_schema_ids(static_cast<uint32_t>(v));
          }
          continue;
        }
        break;
      case 7:
        PGPITR_VARINT_FIELD(change->set_truncate_options(static_cast<uint32_t>(v)))
        break;
      case 8:
        if (wire_type != 2) break;
        if (!in.Bytes(&payload) || !IsUtf8(payload)) return false;
        change->set_message_prefix(std::string(payload));
        continue;
      case 9:
        if (wire_type != 2) break;
        if (!in.Bytes(&payload)) return false;
        change->set_message_content(std::string(payload));
        continue;
      case 10:
        PGPITR_VARINT_FIELD(change->set_message_lsn(v))
        break;
      default:
        break;
    }
    if (!in.Skip(wire_type)) return false;
  }
  return true;
}

#undef PGPITR_VARINT_FIELD

}  // namespace

ChangeChunkDecoder::~ChangeChunkDecoder() {
  for (proto::Tuple* t : spare_tuples_) delete t;
}

bool ChangeChunkDecoder::Decode(std::string_view bytes) {
  first_seq_ = 0;
  size_ = 0;
  Wire in(bytes);
  while (!in.done()) {
    uint32_t field = 0, wire_type = 0;
    if (!in.Tag(&field, &wire_type)) return false;
    if (field == 1 && wire_type == 0) {
      if (!in.Varint(&first_seq_)) return false;
      continue;
    }
    if (field == 2 && wire_type == 2) {
      std::string_view payload;
      if (!in.Bytes(&payload)) return false;
      if (size_ == changes_.size()) changes_.emplace_back();
      proto::Change& change = changes_[size_++];
      // Clear() would delete the tuples: they go to the spares, to be reused, values and all.
      if (change.has_new_tuple()) spare_tuples_.push_back(change.release_new_tuple());
      if (change.has_old_tuple()) spare_tuples_.push_back(change.release_old_tuple());
      change.Clear();
      if (!DecodeChange(payload, &change, &spare_tuples_)) return false;
      continue;
    }
    if (!in.Skip(wire_type)) return false;
  }
  return true;
}

}  // namespace pgpitr::wal
