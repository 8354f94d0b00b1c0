// Reading a tokenizer.json (tokenizer_json.h) with simdjson.
#include "lcde/tokenizer/tokenizer_json.h"

#include <simdjson.h>

#include <string>
#include <memory>
#include <unordered_map>

#include "lcde/tokenizer/string_index.h"
#include "lcde/tokenizer/unicode.h"

namespace lcde::tok {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

class SpecReader {
 public:
  explicit SpecReader(const std::string& path) : path_(path) {}

  Status Read(const element& root, TokenizerJsonSpec* spec);

 private:
  Status Fail(const std::string& what) const {
    return Status::InvalidConfig("tokenizer '" + path_ + "': " + what);
  }
  Status Unsupported(const std::string& part) const {
    return Fail("unsupported " + part +
                " (lcde reproduces byte-level BPE files exactly: BPE model, Split/ByteLevel pre-tokenizers, "
                "NFC normalizer; see README)");
  }
  static std::string TypeOf(const element& e) {
    std::string_view t;
    if (e.type() == simdjson::dom::element_type::OBJECT && !e["type"].get_string().get(t)) return std::string(t);
    return "";
  }
  static bool IsNull(const element& e) { return e.type() == simdjson::dom::element_type::NULL_VALUE; }
  static bool BoolOr(const object& o, const char* key, bool fallback) {
    bool v;
    return o[key].get_bool().get(v) ? fallback : v;
  }

  Status ReadModel(const element& model, TokenizerJsonSpec* spec);
  Status ReadVocab(const object& vocab, TokenizerJsonSpec* spec);
  Status ReadMerges(const array& merges, TokenizerJsonSpec* spec);
  Status ReadAddedTokens(const element& added, TokenizerJsonSpec* spec);
  Status ReadNormalizer(const element& normalizer, TokenizerJsonSpec* spec);
  Status ReadPreTokenizer(const element& pre, TokenizerJsonSpec* spec);
  Status ReadPreTokenizerStep(const element& step, bool alone, bool* saw_byte_level, PreTokenizerSpec* spec);
  Status ReadPostProcessor(const element& post, TokenizerJsonSpec* spec);
  Status ReadTemplate(const object& post, TokenizerJsonSpec* spec);
  Result<int32_t> SpecialIdOf(std::string_view content) const;

  int32_t VocabId(std::string_view s) const { return vocab_index_ ? vocab_index_->Find(s) : -1; }

  std::string path_;
  // The vocabulary as written (byte-level characters), by id: views into the
  // parsed document, which outlives the reader.
  std::vector<std::string_view> vocab_;
  std::unique_ptr<StringIndex> vocab_index_;
  std::unordered_map<std::string, int32_t> added_by_content_;
};

// bytes_char of tokenizers' byte_level.rs: printable Latin-1 stands for
// itself, every other byte for 256 + its rank among those.
struct ByteLevelAlphabet {
  uint32_t code_point[256];
  int16_t byte_of[512];  // code point -> byte, -1 when none
  ByteLevelAlphabet() {
    for (auto& b : byte_of) b = -1;
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      code_point[b] = printable ? static_cast<uint32_t>(b) : next++;
      byte_of[code_point[b]] = static_cast<int16_t>(b);
    }
  }
};

const ByteLevelAlphabet& Alphabet() {
  static const ByteLevelAlphabet alphabet;
  return alphabet;
}

// The bytes a vocabulary string stands for; false when a character is not
// of the byte-level alphabet.
bool ByteLevelToBytes(std::string_view s, std::string* out) {
  out->clear();
  const auto& a = Alphabet();
  for (size_t i = 0; i < s.size();) {
    const uint8_t b0 = static_cast<uint8_t>(s[i]);
    uint32_t cp;
    size_t len;
    if (b0 < 0x80) {
      cp = b0, len = 1;
    } else if ((b0 & 0xE0) == 0xC0 && i + 1 < s.size()) {
      cp = ((b0 & 0x1Fu) << 6) | (static_cast<uint8_t>(s[i + 1]) & 0x3Fu), len = 2;
    } else {
      return false;  // every byte-level character is below U+0800
    }
    if (cp >= 512 || a.byte_of[cp] < 0) return false;
    out->push_back(static_cast<char>(a.byte_of[cp]));
    i += len;
  }
  return true;
}

Status SpecReader::Read(const element& root, TokenizerJsonSpec* spec) {
  if (root.type() != simdjson::dom::element_type::OBJECT) return Fail("not a JSON object");
  element model;
  if (root["model"].get(model)) return Fail("no \"model\"");
  LCDE_RETURN_IF_ERROR(ReadModel(model, spec));
  element part;
  if (!root["added_tokens"].get(part)) LCDE_RETURN_IF_ERROR(ReadAddedTokens(part, spec));
  if (!root["normalizer"].get(part)) LCDE_RETURN_IF_ERROR(ReadNormalizer(part, spec));
  if (root["pre_tokenizer"].get(part) || IsNull(part)) {
    return Unsupported("pre_tokenizer: none (a byte-level BPE needs ByteLevel)");
  }
  LCDE_RETURN_IF_ERROR(ReadPreTokenizer(part, spec));
  if (!root["post_processor"].get(part)) LCDE_RETURN_IF_ERROR(ReadPostProcessor(part, spec));
  return Status::Ok();
}

Status SpecReader::ReadModel(const element& model, TokenizerJsonSpec* spec) {
  const std::string type = TypeOf(model);
  if (type != "BPE") return Unsupported("model.type '" + type + "' (only BPE)");
  object m = model.get_object();
  element e;
  double dropout = 0;
  if (!m["dropout"].get(e) && !IsNull(e) && (e.get_double().get(dropout) || dropout != 0.0)) {
    return Unsupported("model.dropout (BPE dropout is random)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    std::string_view v;
    if (!m[key].get(e) && !IsNull(e) && (e.get_string().get(v) || !v.empty())) {
      return Unsupported(std::string("model.") + key);
    }
  }
  spec->ignore_merges = BoolOr(m, "ignore_merges", false);
  object vocab;
  if (m["vocab"].get_object().get(vocab)) return Fail("model.vocab is not an object");
  LCDE_RETURN_IF_ERROR(ReadVocab(vocab, spec));
  array merges;
  if (m["merges"].get_array().get(merges)) return Fail("model.merges is not an array");
  return ReadMerges(merges, spec);
}

Status SpecReader::ReadVocab(const object& vocab, TokenizerJsonSpec* spec) {
  std::string bytes;
  for (auto field : vocab) {
    int64_t id;
    if (field.value.get_int64().get(id) || id < 0 || id >= (int64_t{1} << 30)) {
      return Fail("model.vocab: '" + std::string(field.key) + "' has no valid id");
    }
    if (!ByteLevelToBytes(field.key, &bytes)) {
      return Unsupported("vocabulary: token '" + std::string(field.key) +
                         "' is not byte-level (a Metaspace or character BPE?)");
    }
    const size_t i = static_cast<size_t>(id);
    if (spec->token_bytes.size() <= i) {
      spec->token_bytes.resize(i + 1);
      spec->in_model_vocab.resize(i + 1);
      vocab_.resize(i + 1);
    }
    if (vocab_[i].data() != nullptr) return Fail("model.vocab: id " + std::to_string(id) + " is given twice");
    spec->token_bytes[i] = bytes;
    spec->in_model_vocab[i] = true;
    vocab_[i] = field.key;
  }
  vocab_index_ = std::make_unique<StringIndex>(&vocab_);
  const auto& a = Alphabet();
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    AppendUtf8(a.code_point[b], &ch);
    const int32_t id = VocabId(ch);
    if (id < 0) {
      return Unsupported("vocabulary: byte 0x" + std::string(1, "0123456789abcdef"[b >> 4]) +
                         std::string(1, "0123456789abcdef"[b & 15]) + " has no token (not a byte-level BPE)");
    }
    spec->byte_ids[b] = id;
  }
  return Status::Ok();
}

Status SpecReader::ReadMerges(const array& merges, TokenizerJsonSpec* spec) {
  spec->merges.reserve(merges.size());
  std::string joined;
  for (element m : merges) {
    std::string_view s, left, right;
    if (!m.get_string().get(s)) {
      const size_t space = s.find(' ');
      if (space == std::string_view::npos) return Fail("model.merges: '" + std::string(s) + "' is not \"a b\"");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else {
      array pair;
      if (m.get_array().get(pair) || pair.size() != 2 || pair.at(0).get_string().get(left) ||
          pair.at(1).get_string().get(right)) {
        return Fail("model.merges: an entry is neither \"a b\" nor [\"a\", \"b\"]");
      }
    }
    joined.assign(left);
    joined.append(right);
    const int32_t l = VocabId(left), r = VocabId(right), merged = VocabId(joined);
    if (l < 0 || r < 0 || merged < 0) {
      return Fail("model.merges: '" + std::string(left) + " " + std::string(right) +
                  "' names a token outside the vocabulary");
    }
    spec->merges.push_back({l, r, merged});
  }
  return Status::Ok();
}

Status SpecReader::ReadAddedTokens(const element& added, TokenizerJsonSpec* spec) {
  if (IsNull(added)) return Status::Ok();
  array list;
  if (added.get_array().get(list)) return Fail("added_tokens is not an array");
  for (element t : list) {
    AddedToken token;
    int64_t id;
    std::string_view content;
    if (t["id"].get_int64().get(id) || id < 0 || id >= (int64_t{1} << 30) || t["content"].get_string().get(content)) {
      return Fail("added_tokens: an entry without a valid id and content");
    }
    object o = t.get_object();
    token.id = static_cast<int32_t>(id);
    token.content = std::string(content);
    token.special = BoolOr(o, "special", false);
    token.normalized = BoolOr(o, "normalized", !token.special);
    if (!token.special) {
      for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
        if (BoolOr(o, flag, false)) {
          return Unsupported("added token '" + token.content + "' with " + flag + " (only special tokens may use it)");
        }
      }
    }
    if (token.content.empty()) return Fail("added_tokens: token " + std::to_string(id) + " is empty");
    if (spec->token_bytes.size() <= static_cast<size_t>(id)) {
      spec->token_bytes.resize(static_cast<size_t>(id) + 1);
      spec->in_model_vocab.resize(static_cast<size_t>(id) + 1);
    }
    if (!spec->in_model_vocab[static_cast<size_t>(id)]) spec->token_bytes[static_cast<size_t>(id)] = token.content;
    added_by_content_[token.content] = token.id;
    spec->added_tokens.push_back(std::move(token));
  }
  return Status::Ok();
}

Status SpecReader::ReadNormalizer(const element& normalizer, TokenizerJsonSpec* spec) {
  if (IsNull(normalizer)) return Status::Ok();
  const std::string type = TypeOf(normalizer);
  if (type == "NFC") {
    spec->nfc = true;
    return Status::Ok();
  }
  if (type == "Sequence") {
    array list;
    if (normalizer["normalizers"].get_array().get(list)) return Fail("normalizer Sequence without a list");
    for (element n : list) LCDE_RETURN_IF_ERROR(ReadNormalizer(n, spec));
    return Status::Ok();
  }
  return Unsupported("normalizer '" + type + "' (only NFC or none)");
}

Status SpecReader::ReadPreTokenizer(const element& pre, TokenizerJsonSpec* spec) {
  bool saw_byte_level = false;
  if (TypeOf(pre) == "Sequence") {
    array list;
    if (pre["pretokenizers"].get_array().get(list)) return Fail("pre_tokenizer Sequence without a list");
    for (element step : list) {
      if (saw_byte_level) return Unsupported("pre_tokenizer: a step after ByteLevel");
      LCDE_RETURN_IF_ERROR(ReadPreTokenizerStep(step, list.size() == 1, &saw_byte_level, &spec->pre_tokenizer));
    }
  } else {
    LCDE_RETURN_IF_ERROR(ReadPreTokenizerStep(pre, true, &saw_byte_level, &spec->pre_tokenizer));
  }
  if (!saw_byte_level) return Unsupported("pre_tokenizer without ByteLevel (not a byte-level BPE)");
  if (spec->pre_tokenizer.split_patterns.empty() && !spec->pre_tokenizer.gpt2_regex) {
    return Unsupported("pre_tokenizer: ByteLevel without a regex (use_regex false and no Split)");
  }
  return Status::Ok();
}

Status SpecReader::ReadPreTokenizerStep(const element& step, bool alone, bool* saw_byte_level,
                                        PreTokenizerSpec* spec) {
  const std::string type = TypeOf(step);
  object o = step.get_object();
  if (type == "ByteLevel") {
    *saw_byte_level = true;
    spec->gpt2_regex = BoolOr(o, "use_regex", true);
    spec->add_prefix_space = BoolOr(o, "add_prefix_space", true);
    if (spec->add_prefix_space && !alone) {
      return Unsupported("pre_tokenizer: ByteLevel with add_prefix_space after other steps");
    }
    return Status::Ok();
  }
  if (type != "Split") return Unsupported("pre_tokenizer '" + type + "' (only Split and ByteLevel)");
  std::string_view pattern, behavior;
  if (step["pattern"]["Regex"].get_string().get(pattern)) {
    return Unsupported("pre_tokenizer Split without a Regex pattern (String patterns are not supported)");
  }
  if (step["behavior"].get_string().get(behavior) || behavior != "Isolated") {
    return Unsupported("pre_tokenizer Split behavior '" + std::string(behavior) + "' (only Isolated)");
  }
  if (BoolOr(o, "invert", false)) return Unsupported("pre_tokenizer Split with invert");
  spec->split_patterns.emplace_back(pattern);
  return Status::Ok();
}

Result<int32_t> SpecReader::SpecialIdOf(std::string_view content) const {
  auto it = added_by_content_.find(std::string(content));
  if (it != added_by_content_.end()) return it->second;
  if (const int32_t v = VocabId(content); v >= 0) return v;
  return Fail("post_processor: token '" + std::string(content) + "' is not in the vocabulary");
}

Status SpecReader::ReadTemplate(const object& post, TokenizerJsonSpec* spec) {
  array single;
  if (post["single"].get_array().get(single)) return Fail("post_processor TemplateProcessing without \"single\"");
  object specials;
  if (post["special_tokens"].get_object().get(specials)) specials = object();
  bool after_sequence = false;
  for (element piece : single) {
    element e;
    if (!piece["Sequence"].get(e)) {
      if (after_sequence) return Unsupported("post_processor template with two sequences in \"single\"");
      after_sequence = true;
      continue;
    }
    std::string_view name;
    if (piece["SpecialToken"]["id"].get_string().get(name)) return Fail("post_processor: a template piece is unreadable");
    std::vector<int32_t> ids;
    array listed;
    if (!specials[name]["ids"].get_array().get(listed)) {
      for (element id : listed) {
        int64_t v;
        if (id.get_int64().get(v)) return Fail("post_processor: special_tokens ids are not integers");
        ids.push_back(static_cast<int32_t>(v));
      }
    } else {
      Result<int32_t> id = SpecialIdOf(name);
      if (!id.ok()) return id.status();
      ids.push_back(*id);
    }
    auto& side = after_sequence ? spec->suffix_ids : spec->prefix_ids;
    side.insert(side.end(), ids.begin(), ids.end());
  }
  return Status::Ok();
}

Status SpecReader::ReadPostProcessor(const element& post, TokenizerJsonSpec* spec) {
  if (IsNull(post)) return Status::Ok();
  const std::string type = TypeOf(post);
  if (type == "ByteLevel") return Status::Ok();  // offsets only
  if (type == "TemplateProcessing") return ReadTemplate(post.get_object(), spec);
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    array cls, sep;
    int64_t cls_id, sep_id;
    if (post["cls"].get_array().get(cls) || post["sep"].get_array().get(sep) || cls.size() != 2 ||
        sep.size() != 2 || cls.at(1).get_int64().get(cls_id) || sep.at(1).get_int64().get(sep_id)) {
      return Fail("post_processor " + type + ": cls/sep unreadable");
    }
    spec->prefix_ids.push_back(static_cast<int32_t>(cls_id));
    spec->suffix_ids.push_back(static_cast<int32_t>(sep_id));
    return Status::Ok();
  }
  if (type == "Sequence") {
    array list;
    if (post["processors"].get_array().get(list)) return Fail("post_processor Sequence without a list");
    for (element p : list) LCDE_RETURN_IF_ERROR(ReadPostProcessor(p, spec));
    return Status::Ok();
  }
  return Unsupported("post_processor '" + type + "'");
}

}  // namespace

uint32_t ByteLevelCodePoint(uint8_t b) { return Alphabet().code_point[b]; }

Result<TokenizerJsonSpec> ParseTokenizerJson(std::string_view json, const std::string& path) {
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json.data(), json.size(), /*realloc_if_needed=*/true).get(root)) {
    return Status::InvalidConfig("tokenizer '" + path + "': not valid JSON (" +
                                 std::string(simdjson::error_message(err)) + ")");
  }
  TokenizerJsonSpec spec;
  SpecReader reader(path);
  LCDE_RETURN_IF_ERROR(reader.Read(root, &spec));
  return spec;
}

}  // namespace lcde::tok
