// SentencePiece's model proto read from its wire format, and what it allows
// (sentencepiece.h explains the derivation).
#include <cstring>
#include <string>

#include "lcde/tokenizer/sentencepiece.h"
#include "sentencepiece_utf8.h"

namespace lcde::tok {

namespace {

// ---------------------------------------------------------------------------
// Protobuf wire format.
// ---------------------------------------------------------------------------

class WireReader {
 public:
  explicit WireReader(std::string_view data) : p_(data.data()), end_(data.data() + data.size()) {}
  bool done() const { return p_ >= end_; }
  bool failed() const { return failed_; }

  bool Varint(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) return Fail();
      const uint8_t b = static_cast<uint8_t>(*p_++);
      result |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (b < 0x80) {
        *v = result;
        return true;
      }
    }
    return Fail();
  }
  // Reads a tag; false at the end or on error.
  bool Tag(uint32_t* field, uint32_t* wire_type) {
    if (done()) return false;
    uint64_t tag;
    if (!Varint(&tag)) return false;
    *field = static_cast<uint32_t>(tag >> 3);
    *wire_type = static_cast<uint32_t>(tag & 7);
    if (*field == 0) return Fail();
    return true;
  }
  bool Bytes(std::string_view* out) {
    uint64_t len;
    if (!Varint(&len)) return false;
    if (len > static_cast<uint64_t>(end_ - p_)) return Fail();
    *out = std::string_view(p_, len);
    p_ += len;
    return true;
  }
  bool Fixed32(uint32_t* v) {
    if (end_ - p_ < 4) return Fail();
    std::memcpy(v, p_, 4);  // little-endian hosts only (x86-64, aarch64)
    p_ += 4;
    return true;
  }
  bool Skip(uint32_t wire_type) {
    switch (wire_type) {
      case 0: {
        uint64_t v;
        return Varint(&v);
      }
      case 1:
        if (end_ - p_ < 8) return Fail();
        p_ += 8;
        return true;
      case 2: {
        std::string_view v;
        return Bytes(&v);
      }
      case 5:
        if (end_ - p_ < 4) return Fail();
        p_ += 4;
        return true;
      default:  // groups (3, 4) never appear in a ModelProto
        return Fail();
    }
  }

 private:
  bool Fail() {
    failed_ = true;
    p_ = end_;
    return false;
  }
  const char* p_;
  const char* end_;
  bool failed_ = false;
};

bool ParsePiece(std::string_view data, SpmPiece* piece) {
  WireReader r(data);
  uint32_t field, wt;
  while (r.Tag(&field, &wt)) {
    if (field == 1 && wt == 2) {
      std::string_view s;
      if (!r.Bytes(&s)) return false;
      piece->piece.assign(s);
    } else if (field == 2 && wt == 5) {
      uint32_t bits;
      if (!r.Fixed32(&bits)) return false;
      std::memcpy(&piece->score, &bits, 4);
    } else if (field == 3 && wt == 0) {
      uint64_t v;
      if (!r.Varint(&v)) return false;
      piece->type = static_cast<int>(v);
    } else if (!r.Skip(wt)) {
      return false;
    }
  }
  return !r.failed();
}

bool ParseTrainerSpec(std::string_view data, SpmModelInfo* info) {
  WireReader r(data);
  uint32_t field, wt;
  while (r.Tag(&field, &wt)) {
    uint64_t v;
    if (wt == 0 && (field == 3 || field == 24 || field == 35)) {
      if (!r.Varint(&v)) return false;
      if (field == 3) info->model_type = static_cast<int>(v);
      if (field == 24) info->treat_whitespace_as_suffix = v != 0;
      if (field == 35) info->byte_fallback = v != 0;
    } else if (!r.Skip(wt)) {
      return false;
    }
  }
  return !r.failed();
}

bool ParseNormalizerSpec(std::string_view data, SpmModelInfo* info) {
  WireReader r(data);
  uint32_t field, wt;
  while (r.Tag(&field, &wt)) {
    if (wt == 2 && (field == 1 || field == 2)) {
      std::string_view s;
      if (!r.Bytes(&s)) return false;
      (field == 1 ? info->normalizer_name : info->precompiled_charsmap).assign(s);
    } else if (wt == 0 && field >= 3 && field <= 5) {
      uint64_t v;
      if (!r.Varint(&v)) return false;
      if (field == 3) info->add_dummy_prefix = v != 0;
      if (field == 4) info->remove_extra_whitespaces = v != 0;
      if (field == 5) info->escape_whitespaces = v != 0;
    } else if (!r.Skip(wt)) {
      return false;
    }
  }
  return !r.failed();
}

}  // namespace

bool ParseSpmModel(std::string_view bytes, SpmModelInfo* info, std::string* error) {
  *info = SpmModelInfo();
  WireReader r(bytes);
  uint32_t field, wt;
  while (r.Tag(&field, &wt)) {
    std::string_view sub;
    if (wt == 2 && (field == 1 || field == 2 || field == 3)) {
      if (!r.Bytes(&sub)) break;
      bool ok = true;
      if (field == 1) {
        info->pieces.emplace_back();
        ok = ParsePiece(sub, &info->pieces.back());
      } else if (field == 2) {
        ok = ParseTrainerSpec(sub, info);
      } else {
        info->has_normalizer_spec = true;
        ok = ParseNormalizerSpec(sub, info);
      }
      if (!ok) {
        *error = "malformed sub-message (field " + std::to_string(field) + ")";
        return false;
      }
    } else if (!r.Skip(wt)) {
      break;
    }
  }
  if (r.failed()) {
    *error = "malformed protobuf wire data";
    return false;
  }
  return true;
}

Plan AnalyzeModel(const SpmModelInfo& info) {
  Plan plan;
  auto fail = [&](std::string why) {
    plan.segmentable = plan.native_bpe = false;
    if (plan.reason.empty()) plan.reason = std::move(why);
  };
  bool has_unused = false, has_user_defined = false;
  int space_type = 0;  // type of the piece "▁" (0: none)
  int ws_type = 0;     // type of the piece the dummy prefix / a space becomes
  const std::string ws = info.escape_whitespaces ? kSpaceSymbol : " ";
  std::string bad_piece;
  for (const auto& p : info.pieces) {
    if (p.type == kUnused) has_unused = true;
    if (p.type == kUserDefined) has_user_defined = true;
    if (p.piece == kSpaceSymbol && space_type == 0) space_type = p.type;
    if (p.piece == ws && ws_type == 0) ws_type = p.type;
    if ((p.type == kNormal || p.type == kUserDefined || p.type == kUnused) && bad_piece.empty() &&
        !SpaceOnlyAsPrefix(p.piece)) {
      bad_piece = p.piece;
    }
  }

  // MaxTokensForBytes: every normalized character becomes at most one id per
  // byte of its raw form (merges only shrink the count; byte fallback spends
  // one id per byte of an unknown character, whose raw and normalized bytes
  // agree except for ' ' -> "▁", which must therefore be a known piece when
  // spaces are escaped), and the dummy prefix at most one more.
  plan.bytes_plus_one = info.model_type == kBpe && info.precompiled_charsmap.empty() && !has_unused &&
                        (!info.byte_fallback || !info.escape_whitespaces || (ws_type != 0 && ws_type != kUnknown));

  plan.segmentable = plan.native_bpe = true;
  if (info.model_type != kBpe) {
    fail("model_type " + std::to_string(info.model_type) +
         " is not BPE (only BPE merges decompose exactly at word boundaries)");
  }
  if (!info.precompiled_charsmap.empty()) {
    fail("normalizer '" + info.normalizer_name + "' rewrites characters (precompiled_charsmap is not empty)");
  }
  if (!info.add_dummy_prefix) fail("add_dummy_prefix is false");
  if (info.remove_extra_whitespaces) fail("remove_extra_whitespaces is true");
  if (!info.escape_whitespaces) fail("escape_whitespaces is false");
  if (info.treat_whitespace_as_suffix) fail("treat_whitespace_as_suffix is true");
  if (has_unused) {
    fail("the model has UNUSED pieces (the library's resegmentation map spans the whole input)");
  }
  if (!bad_piece.empty()) fail("piece '" + bad_piece + "' has U+2581 after another character");
  if (!info.byte_fallback && (space_type == 0 || space_type == kUnknown)) {
    fail("no byte_fallback and U+2581 is not a known piece (runs of unknown pieces would merge across words)");
  }
  if (plan.segmentable && has_user_defined) {
    plan.native_bpe = false;
    plan.nul_to_library = true;
    plan.reason = "the model has USER_DEFINED pieces (segments are encoded by the library)";
  }
  return plan;
}

}  // namespace lcde::tok
