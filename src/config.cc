#include "lcde/config.h"

#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

namespace lcde {

namespace fs = std::filesystem;

const char* StrategyName(Strategy s) {
  switch (s) {
    case Strategy::kNone: return "none";
    case Strategy::kGlobal: return "global";
    case Strategy::kPerSource: return "per_source";
    case Strategy::kUpsampleSources: return "upsample_sources";
  }
  return "?";
}

const std::map<std::string, double>& SlimPajamaWeights() {
  // The shares the paper's code uses (SlimPajama's token mixture).
  static const std::map<std::string, double> kWeights = {
      {"RedPajamaC4", 0.26609933},       {"RedPajamaCommonCrawl", 0.53374772},
      {"RedPajamaStackExchange", 0.03169647}, {"RedPajamaWikipedia", 0.03402128},
      {"RedPajamaGithub", 0.05004782},   {"RedPajamaArXiv", 0.04290379},
      {"RedPajamaBook", 0.0414836},
  };
  return kWeights;
}

namespace {

// Counts are exact: digits (with an optional K/M/B/T suffix) are parsed as
// integers, so a seed or budget above 2^53 keeps its value (through a double
// 9007199254740993 would become ...992, another seed). A fraction ("1.5B")
// goes through a double and must come out whole and below 2^53.
Result<uint64_t> ParseWithSuffix(const std::string& text, uint64_t k) {
  std::string s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  if (s.empty()) return Status::InvalidConfig("empty number");
  int power = 0;
  switch (std::toupper(static_cast<unsigned char>(s.back()))) {
    case 'K': power = 1; break;
    case 'M': power = 2; break;
    case 'B': case 'G': power = 3; break;
    case 'T': power = 4; break;
    default: break;
  }
  if (power > 0) s.pop_back();
  if (s.empty()) return Status::InvalidConfig("'" + text + "' has no digits");
  uint64_t mult = 1;
  for (int i = 0; i < power; ++i) mult *= k;
  const Status too_large = Status::InvalidConfig("'" + text + "' is too large");
  if (std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec == std::errc::result_out_of_range) return too_large;
    if (ec != std::errc() || end != s.data() + s.size()) return Status::InvalidConfig("'" + text + "' is not a number");
    uint64_t total = 0;
    if (__builtin_mul_overflow(value, mult, &total)) return too_large;
    return total;
  }
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(s, &used);
  } catch (...) {
    return Status::InvalidConfig("'" + text + "' is not a number");
  }
  if (used != s.size() || !(value >= 0) || !std::isfinite(value)) {
    return Status::InvalidConfig("'" + text + "' is not a non-negative number");
  }
  const double total = value * static_cast<double>(mult);
  if (total >= 9007199254740992.0) return Status::InvalidConfig("'" + text + "' is too large to write as a fraction; write its digits");
  if (total != std::floor(total)) {
    return Status::InvalidConfig("'" + text + "' is not a whole number");
  }
  return static_cast<uint64_t>(total);
}

// Walks a YAML map and reports keys nobody consumed: a typo must not be
// silently ignored, it would build the wrong dataset for hours.
class Reader {
 public:
  Reader(YAML::Node node, std::string prefix) : node_(node), prefix_(std::move(prefix)) {}

  std::string Key(const std::string& k) const { return prefix_.empty() ? k : prefix_ + "." + k; }
  bool Has(const std::string& k) {
    seen_.insert(k);
    return node_[k].IsDefined() && !node_[k].IsNull();
  }
  YAML::Node Get(const std::string& k) {
    seen_.insert(k);
    return node_[k];
  }

  Status String(const std::string& k, std::string* out) {
    if (!Has(k)) return Status::Ok();
    YAML::Node n = node_[k];
    if (!n.IsScalar()) return Status::InvalidConfig(Key(k) + ": expected a string");
    *out = n.Scalar();
    return Status::Ok();
  }
  Status Bool(const std::string& k, bool* out) {
    if (!Has(k)) return Status::Ok();
    YAML::Node n = node_[k];
    bool v = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
      return Status::InvalidConfig(Key(k) + ": expected true or false, got '" + Dump(n) + "'");
    }
    *out = v;
    return Status::Ok();
  }
  Status Double(const std::string& k, double* out) {
    if (!Has(k)) return Status::Ok();
    YAML::Node n = node_[k];
    double v = 0;
    if (!n.IsScalar() || !YAML::convert<double>::decode(n, v) || !std::isfinite(v)) {
      return Status::InvalidConfig(Key(k) + ": expected a number, got '" + Dump(n) + "'");
    }
    *out = v;
    return Status::Ok();
  }
  Status Count(const std::string& k, bool binary, uint64_t* out) {
    if (!Has(k)) return Status::Ok();
    YAML::Node n = node_[k];
    if (!n.IsScalar()) return Status::InvalidConfig(Key(k) + ": expected a number");
    Result<uint64_t> r = binary ? ParseBinaryLength(n.Scalar()) : ParseDecimalCount(n.Scalar());
    if (!r.ok()) return Status::InvalidConfig(Key(k) + ": " + r.status().message());
    *out = *r;
    return Status::Ok();
  }
  Status StringList(const std::string& k, std::vector<std::string>* out) {
    if (!Has(k)) return Status::Ok();
    YAML::Node n = node_[k];
    out->clear();
    if (n.IsScalar()) {
      out->push_back(n.Scalar());
      return Status::Ok();
    }
    if (!n.IsSequence()) return Status::InvalidConfig(Key(k) + ": expected a list of strings");
    for (const auto& item : n) {
      if (!item.IsScalar()) return Status::InvalidConfig(Key(k) + ": expected a list of strings");
      out->push_back(item.Scalar());
    }
    return Status::Ok();
  }

  // Fails naming the first key that no field consumed.
  Status CheckNoUnknownKeys() const {
    for (const auto& kv : node_) {
      // as<std::string>() throws on a sequence or map used as a key.
      if (!kv.first.IsScalar() && !kv.first.IsNull()) {
        return Status::InvalidConfig((prefix_.empty() ? "" : prefix_ + ": ") +
                                     "a key must be a string, got '" + Dump(kv.first) + "'");
      }
      std::string k = kv.first.as<std::string>();
      if (!seen_.count(k)) return Status::InvalidConfig("unknown key '" + Key(k) + "'");
    }
    return Status::Ok();
  }

  static std::string Dump(const YAML::Node& n) {
    YAML::Emitter e;
    e << YAML::Flow << n;
    return e.c_str();
  }

 private:
  YAML::Node node_;
  std::string prefix_;
  std::set<std::string> seen_;
};

Status Section(YAML::Node root, const std::string& name, YAML::Node* out) {
  YAML::Node n = root[name];
  if (!n.IsDefined() || n.IsNull()) {
    *out = YAML::Node(YAML::NodeType::Map);
    return Status::Ok();
  }
  if (!n.IsMap()) return Status::InvalidConfig(name + ": expected a mapping");
  *out = n;
  return Status::Ok();
}

std::string ResolvePath(const fs::path& base_dir, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  return (base_dir / p).lexically_normal().string();
}

Status ApplyOverride(YAML::Node root, const std::string& assignment) {
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    return Status::InvalidConfig("--set '" + assignment + "': expected key=value");
  }
  std::string path = assignment.substr(0, eq);
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    return Status::InvalidConfig("--set '" + assignment + "': " + e.what());
  }
  YAML::Node cur = root;
  std::stringstream parts(path);
  std::string part, next;
  std::getline(parts, part, '.');
  while (std::getline(parts, next, '.')) {
    YAML::Node child = cur[part];
    if (!child.IsDefined() || child.IsNull()) cur[part] = YAML::Node(YAML::NodeType::Map);
    if (!cur[part].IsMap()) return Status::InvalidConfig("--set " + path + ": '" + part + "' is not a mapping");
    YAML::Node tmp = cur[part];
    cur.reset(tmp);  // reset, not operator=: assignment would overwrite the node's content
    part = next;
  }
  cur[part] = value;
  return Status::Ok();
}

// ToYaml(), the manifest's record of the config, can only write UTF-8 (the
// emitter turns other bytes into U+FFFD), so a config holding other bytes
// would be recorded as a different config.
Status CheckUtf8(const Config& c) {
  std::vector<std::pair<std::string, const std::string*>> fields = {
      {"input.text_key", &c.input.text_key},   {"input.source_key", &c.input.source_key},
      {"tokenizer.model", &c.tokenizer.model}, {"mixture.unknown_sources", &c.mixture.unknown_sources},
      {"output.dir", &c.output.dir}};
  for (const auto& p : c.input.paths) fields.emplace_back("input.paths", &p);
  for (const auto& [name, w] : c.mixture.weights) fields.emplace_back("mixture.weights", &name);
  for (const auto& s : c.mixture.upsample) fields.emplace_back("mixture.upsample", &s);
  for (const auto& [key, value] : fields) {
    if (!simdjson::validate_utf8(value->data(), value->size())) {
      return Status::InvalidConfig(key + ": not valid UTF-8");
    }
  }
  return Status::Ok();
}

// A preset name or a map source -> share, at `key`.
Status ParseWeights(const YAML::Node& w, const std::string& key, std::string* preset,
                    std::map<std::string, double>* weights) {
  if (w.IsScalar()) {
    *preset = w.Scalar();
  } else if (w.IsMap()) {
    *preset = "";
    for (const auto& kv : w) {
      if (!kv.first.IsScalar() && !kv.first.IsNull()) {
        return Status::InvalidConfig(key + ": a source name must be a string, got '" + Reader::Dump(kv.first) + "'");
      }
      std::string name = kv.first.as<std::string>();
      double v = 0;
      if (!kv.second.IsScalar() || !YAML::convert<double>::decode(kv.second, v) || !std::isfinite(v) || v < 0) {
        return Status::InvalidConfig(key + "." + name + ": expected a number >= 0");
      }
      (*weights)[name] = v;
    }
  } else {
    return Status::InvalidConfig(key + ": expected a preset name or a map of source: share");
  }
  if (!preset->empty()) {
    if (*preset != "slimpajama") {
      return Status::InvalidConfig(key + ": unknown preset '" + *preset + "' (known: slimpajama)");
    }
    *weights = SlimPajamaWeights();
  }
  return Status::Ok();
}

// input.groups -> the groups, and each group's sources flattened into
// mixture weights named GROUP/SOURCE (or GROUP).
Status ParseGroups(const YAML::Node& list, const fs::path& base_dir, const InputConfig& defaults,
                   std::vector<InputGroup>* groups) {
  if (!list.IsSequence() || list.size() == 0) return Status::InvalidConfig("input.groups: expected a list of groups");
  for (size_t i = 0; i < list.size(); ++i) {
    std::string key = "input.groups[" + std::to_string(i) + "]";
    if (!list[i].IsMap()) return Status::InvalidConfig(key + ": expected a mapping");
    Reader g(list[i], key);
    InputGroup group;
    group.input.text_key = defaults.text_key;
    group.input.source_key = defaults.source_key;
    LCDE_RETURN_IF_ERROR(g.String("name", &group.name));
    if (group.name.empty() || group.name.find('/') != std::string::npos) {
      return Status::InvalidConfig(key + ".name: required, without '/'");
    }
    for (const auto& other : *groups) {
      if (other.name == group.name) return Status::InvalidConfig(key + ".name: '" + group.name + "' used twice");
    }
    LCDE_RETURN_IF_ERROR(g.Double("weight", &group.weight));
    if (!(group.weight > 0)) return Status::InvalidConfig(key + ".weight: required, > 0");
    LCDE_RETURN_IF_ERROR(g.StringList("paths", &group.input.paths));
    if (group.input.paths.empty()) return Status::InvalidConfig(key + ".paths: required, at least one path");
    for (auto& p : group.input.paths) p = ResolvePath(base_dir, p);
    LCDE_RETURN_IF_ERROR(g.String("text_key", &group.input.text_key));
    if (g.Has("source_key")) {
      LCDE_RETURN_IF_ERROR(g.String("source_key", &group.input.source_key));
    } else if (g.Get("source_key").IsDefined()) {
      group.input.source_key = "";  // `source_key: null`: one source named after the group
    }
    std::string preset;
    if (g.Has("weights")) {
      if (group.input.source_key.empty()) {
        return Status::InvalidConfig(key + ".weights: a group without source_key is one source; give no weights");
      }
      LCDE_RETURN_IF_ERROR(ParseWeights(g.Get("weights"), key + ".weights", &preset, &group.weights));
    } else if (!group.input.source_key.empty()) {
      return Status::InvalidConfig(key + ".weights: required when the group has a source_key "
                                   "(or set source_key: null for a single-source group)");
    }
    LCDE_RETURN_IF_ERROR(g.CheckNoUnknownKeys());
    if (group.input.source_key.empty()) {
      group.input.fixed_source = group.name;
    } else {
      group.input.source_prefix = group.name + "/";
    }
    groups->push_back(std::move(group));
  }
  return Status::Ok();
}

}  // namespace

Result<uint64_t> ParseDecimalCount(const std::string& text) { return ParseWithSuffix(text, 1000); }
Result<uint64_t> ParseBinaryLength(const std::string& text) { return ParseWithSuffix(text, 1024); }

Result<Config> ParseConfig(const std::string& yaml_text, const fs::path& base_dir,
                           const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    return Status::InvalidConfig(std::string("YAML syntax: ") + e.what());
  }
  if (!root.IsDefined() || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) return Status::InvalidConfig("the config must be a YAML mapping");
  for (const auto& o : overrides) LCDE_RETURN_IF_ERROR(ApplyOverride(root, o));

  Config c;
  Reader top(root, "");
  LCDE_RETURN_IF_ERROR(top.Count("seed", false, &c.seed));

  YAML::Node n;
  top.Get("input");
  LCDE_RETURN_IF_ERROR(Section(root, "input", &n));
  Reader in(n, "input");
  LCDE_RETURN_IF_ERROR(in.StringList("paths", &c.input.paths));
  LCDE_RETURN_IF_ERROR(in.String("text_key", &c.input.text_key));
  LCDE_RETURN_IF_ERROR(in.String("source_key", &c.input.source_key));
  if (in.Has("groups")) {
    if (!c.input.paths.empty()) return Status::InvalidConfig("input.paths: not used with input.groups (each group has paths)");
    LCDE_RETURN_IF_ERROR(ParseGroups(in.Get("groups"), base_dir, c.input, &c.groups));
    for (const auto& g : c.groups) c.input.paths.insert(c.input.paths.end(), g.input.paths.begin(), g.input.paths.end());
  }
  LCDE_RETURN_IF_ERROR(in.CheckNoUnknownKeys());
  if (c.input.paths.empty()) return Status::InvalidConfig("input.paths: required, at least one path");
  if (c.groups.empty()) {
    for (auto& p : c.input.paths) p = ResolvePath(base_dir, p);
  }
  if (c.input.text_key.empty()) return Status::InvalidConfig("input.text_key: must not be empty");
  if (c.input.source_key.empty()) return Status::InvalidConfig("input.source_key: must not be empty");

  top.Get("tokenizer");
  LCDE_RETURN_IF_ERROR(Section(root, "tokenizer", &n));
  Reader tok(n, "tokenizer");
  LCDE_RETURN_IF_ERROR(tok.String("model", &c.tokenizer.model));
  c.tokenizer.bos_from_model = !tok.Has("bos");
  c.tokenizer.eos_from_model = !tok.Has("eos");
  LCDE_RETURN_IF_ERROR(tok.Bool("bos", &c.tokenizer.bos));
  LCDE_RETURN_IF_ERROR(tok.Bool("eos", &c.tokenizer.eos));
  if (tok.Has("separator")) {
    YAML::Node n = tok.Get("separator");
    int64_t id = -2;
    if (n.IsScalar() && YAML::convert<int64_t>::decode(n, id)) {
      if (id < -1) return Status::InvalidConfig("tokenizer.separator: expected a token id (>= 0), -1 or a special token's text");
      c.tokenizer.separator = id;
    } else if (n.IsScalar() && !n.Scalar().empty()) {
      c.tokenizer.separator_token = n.Scalar();
    } else {
      return Status::InvalidConfig("tokenizer.separator: expected a token id (>= 0), -1 or a special token's text");
    }
  }
  LCDE_RETURN_IF_ERROR(tok.CheckNoUnknownKeys());
  if (c.tokenizer.model.empty()) return Status::InvalidConfig("tokenizer.model: required");
  c.tokenizer.model = ResolvePath(base_dir, c.tokenizer.model);

  top.Get("mixture");
  LCDE_RETURN_IF_ERROR(Section(root, "mixture", &n));
  Reader mix(n, "mixture");
  if (!mix.Has("total_tokens")) return Status::InvalidConfig("mixture.total_tokens: required");
  LCDE_RETURN_IF_ERROR(mix.Count("total_tokens", false, &c.mixture.total_tokens));
  if (c.mixture.total_tokens == 0) return Status::InvalidConfig("mixture.total_tokens: must be > 0");
  if (mix.Has("weights")) {
    if (!c.groups.empty()) {
      return Status::InvalidConfig("mixture.weights: not used with input.groups (each group has its weight and weights)");
    }
    LCDE_RETURN_IF_ERROR(ParseWeights(mix.Get("weights"), "mixture.weights", &c.mixture.weights_preset,
                                      &c.mixture.weights));
  } else if (c.mixture.weights_preset == "slimpajama" && c.groups.empty()) {
    c.mixture.weights = SlimPajamaWeights();
  }
  if (!c.groups.empty()) {
    c.mixture.weights_preset = "";
    c.mixture.weights.clear();
    double group_sum = 0;
    for (const auto& g : c.groups) group_sum += g.weight;
    for (const auto& g : c.groups) {
      double share = g.weight / group_sum;
      if (g.weights.empty()) {
        c.mixture.weights[g.name] = share;
        continue;
      }
      double sum = 0;
      for (const auto& [name, w] : g.weights) sum += w;
      if (!(sum > 0)) return Status::InvalidConfig("input.groups " + g.name + ": weights must not all be 0");
      for (const auto& [name, w] : g.weights) c.mixture.weights[g.name + "/" + name] = share * w / sum;
    }
  }
  double weight_sum = 0;
  for (const auto& [name, v] : c.mixture.weights) weight_sum += v;
  if (!(weight_sum > 0)) return Status::InvalidConfig("mixture.weights: at least one share must be > 0");

  std::string strategy = StrategyName(c.mixture.strategy);
  LCDE_RETURN_IF_ERROR(mix.String("strategy", &strategy));
  if (strategy == "none") c.mixture.strategy = Strategy::kNone;
  else if (strategy == "global") c.mixture.strategy = Strategy::kGlobal;
  else if (strategy == "per_source") c.mixture.strategy = Strategy::kPerSource;
  else if (strategy == "upsample_sources") c.mixture.strategy = Strategy::kUpsampleSources;
  else {
    return Status::InvalidConfig("mixture.strategy: '" + strategy +
                                 "' is not one of none, global, per_source, upsample_sources");
  }
  LCDE_RETURN_IF_ERROR(mix.StringList("upsample", &c.mixture.upsample));
  if (c.mixture.strategy == Strategy::kUpsampleSources) {
    if (c.mixture.upsample.empty()) {
      return Status::InvalidConfig("mixture.upsample: required by strategy upsample_sources");
    }
    for (const auto& s : c.mixture.upsample) {
      if (!c.mixture.weights.count(s)) {
        return Status::InvalidConfig("mixture.upsample: '" + s + "' has no weight in mixture.weights");
      }
    }
  } else if (!c.mixture.upsample.empty()) {
    return Status::InvalidConfig("mixture.upsample: only used by strategy upsample_sources");
  }
  LCDE_RETURN_IF_ERROR(mix.Count("length_threshold", true, &c.mixture.length_threshold));
  if (c.mixture.length_threshold == 0) return Status::InvalidConfig("mixture.length_threshold: must be > 0");
  LCDE_RETURN_IF_ERROR(mix.Double("short_keep_ratio", &c.mixture.short_keep_ratio));
  if (c.mixture.short_keep_ratio < 0 || c.mixture.short_keep_ratio > 1) {
    return Status::InvalidConfig("mixture.short_keep_ratio: must be in [0, 1]");
  }
  if (mix.Has("long_token_fraction")) {
    YAML::Node f = mix.Get("long_token_fraction");
    auto add = [&](const std::string& name, const YAML::Node& v) -> Status {
      double x = 0;
      if (!v.IsScalar() || !YAML::convert<double>::decode(v, x) || !(x >= 0 && x <= 1)) {
        return Status::InvalidConfig("mixture.long_token_fraction" + (name == "*" ? "" : "." + name) +
                                     ": expected a number in [0, 1]");
      }
      if (name != "*" && !c.mixture.weights.count(name)) {
        return Status::InvalidConfig("mixture.long_token_fraction." + name + ": no such source in mixture.weights");
      }
      c.mixture.long_token_fraction[name] = x;
      return Status::Ok();
    };
    if (f.IsMap()) {
      for (const auto& kv : f) LCDE_RETURN_IF_ERROR(add(kv.first.as<std::string>(), kv.second));
    } else {
      LCDE_RETURN_IF_ERROR(add("*", f));
    }
  }
  uint64_t max_repeats = c.mixture.max_repeats;
  LCDE_RETURN_IF_ERROR(mix.Count("max_repeats", false, &max_repeats));
  if (max_repeats < 1 || max_repeats > 1000) return Status::InvalidConfig("mixture.max_repeats: must be in [1, 1000]");
  c.mixture.max_repeats = static_cast<uint32_t>(max_repeats);
  LCDE_RETURN_IF_ERROR(mix.Count("repeat_threshold", true, &c.mixture.repeat_threshold));
  if (c.mixture.max_repeats > 1) {
    if (c.mixture.strategy == Strategy::kNone) {
      return Status::InvalidConfig("mixture.max_repeats: strategy none keeps every document's share; repetition "
                                   "needs global, per_source or upsample_sources");
    }
    if (c.mixture.repeat_threshold < c.mixture.length_threshold) {
      return Status::InvalidConfig("mixture.repeat_threshold (" + std::to_string(c.mixture.repeat_threshold) +
                                   ") must be >= mixture.length_threshold (" +
                                   std::to_string(c.mixture.length_threshold) + ")");
    }
  }
  LCDE_RETURN_IF_ERROR(mix.String("unknown_sources", &c.mixture.unknown_sources));
  if (c.mixture.unknown_sources != "drop" && !c.mixture.weights.count(c.mixture.unknown_sources)) {
    return Status::InvalidConfig("mixture.unknown_sources: '" + c.mixture.unknown_sources +
                                 "' is neither 'drop' nor a source in mixture.weights");
  }
  LCDE_RETURN_IF_ERROR(mix.Bool("interleave", &c.mixture.interleave));
  LCDE_RETURN_IF_ERROR(mix.CheckNoUnknownKeys());

  top.Get("output");
  LCDE_RETURN_IF_ERROR(Section(root, "output", &n));
  Reader out(n, "output");
  LCDE_RETURN_IF_ERROR(out.String("dir", &c.output.dir));
  LCDE_RETURN_IF_ERROR(out.Count("sequence_length", true, &c.output.sequence_length));
  LCDE_RETURN_IF_ERROR(out.Count("chunks_per_shard", false, &c.output.chunks_per_shard));
  LCDE_RETURN_IF_ERROR(out.Bool("keep_partial_chunk", &c.output.keep_partial_chunk));
  LCDE_RETURN_IF_ERROR(out.CheckNoUnknownKeys());
  if (c.output.dir.empty()) return Status::InvalidConfig("output.dir: required");
  c.output.dir = ResolvePath(base_dir, c.output.dir);
  if (c.output.sequence_length < 2 || c.output.sequence_length > (1ull << 31)) {
    return Status::InvalidConfig("output.sequence_length: must be in [2, 2G]");
  }
  if (c.output.chunks_per_shard == 0) return Status::InvalidConfig("output.chunks_per_shard: must be > 0");

  top.Get("validation");
  LCDE_RETURN_IF_ERROR(Section(root, "validation", &n));
  Reader val(n, "validation");
  LCDE_RETURN_IF_ERROR(val.Count("tokens_per_source", false, &c.validation.tokens_per_source));
  LCDE_RETURN_IF_ERROR(val.CheckNoUnknownKeys());

  LCDE_RETURN_IF_ERROR(top.CheckNoUnknownKeys());
  LCDE_RETURN_IF_ERROR(CheckUtf8(c));
  return c;
}

Result<Config> LoadConfig(const fs::path& file, const std::vector<std::string>& overrides) {
  std::ifstream in(file);
  if (!in) return Status::InvalidConfig("cannot read config file '" + file.string() + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  Result<Config> c = ParseConfig(ss.str(), fs::absolute(file).parent_path(), overrides);
  if (!c.ok()) return Status::InvalidConfig(file.string() + ": " + c.status().message());
  return c;
}

std::string Config::ToYaml() const {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "seed" << YAML::Value << seed;
  e << YAML::Key << "input" << YAML::Value << YAML::BeginMap;
  if (groups.empty()) {
    e << YAML::Key << "paths" << YAML::Value << YAML::BeginSeq;
    for (const auto& p : input.paths) e << p;
    e << YAML::EndSeq;
  } else {
    e << YAML::Key << "groups" << YAML::Value << YAML::BeginSeq;
    for (const auto& g : groups) {
      e << YAML::BeginMap;
      e << YAML::Key << "name" << YAML::Value << g.name;
      e << YAML::Key << "weight" << YAML::Value << g.weight;
      e << YAML::Key << "paths" << YAML::Value << YAML::Flow << g.input.paths;
      e << YAML::Key << "text_key" << YAML::Value << g.input.text_key;
      if (g.input.source_key.empty()) {
        e << YAML::Key << "source_key" << YAML::Value << YAML::Null;
      } else {
        e << YAML::Key << "source_key" << YAML::Value << g.input.source_key;
        e << YAML::Key << "weights" << YAML::Value << YAML::BeginMap;
        for (const auto& [name, w] : g.weights) e << YAML::Key << name << YAML::Value << w;
        e << YAML::EndMap;
      }
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  e << YAML::Key << "text_key" << YAML::Value << input.text_key;
  e << YAML::Key << "source_key" << YAML::Value << input.source_key;
  e << YAML::EndMap;
  e << YAML::Key << "tokenizer" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "model" << YAML::Value << tokenizer.model;
  // Left to the model while unresolved (a dry run): the model decides.
  if (!tokenizer.bos_from_model) e << YAML::Key << "bos" << YAML::Value << tokenizer.bos;
  if (!tokenizer.eos_from_model) e << YAML::Key << "eos" << YAML::Value << tokenizer.eos;
  if (tokenizer.separator >= 0) {
    e << YAML::Key << "separator" << YAML::Value << tokenizer.separator;
  } else if (!tokenizer.separator_token.empty()) {
    e << YAML::Key << "separator" << YAML::Value << tokenizer.separator_token;
  }
  e << YAML::EndMap;
  e << YAML::Key << "mixture" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "total_tokens" << YAML::Value << mixture.total_tokens;
  if (groups.empty()) {
    e << YAML::Key << "weights" << YAML::Value << YAML::BeginMap;
    for (const auto& [name, w] : mixture.weights) e << YAML::Key << name << YAML::Value << w;
    e << YAML::EndMap;
  }
  e << YAML::Key << "strategy" << YAML::Value << StrategyName(mixture.strategy);
  if (!mixture.upsample.empty()) {
    e << YAML::Key << "upsample" << YAML::Value << YAML::Flow << mixture.upsample;
  }
  e << YAML::Key << "length_threshold" << YAML::Value << mixture.length_threshold;
  e << YAML::Key << "short_keep_ratio" << YAML::Value << mixture.short_keep_ratio;
  e << YAML::Key << "unknown_sources" << YAML::Value << mixture.unknown_sources;
  if (!mixture.long_token_fraction.empty()) {
    if (mixture.long_token_fraction.count("*")) {
      e << YAML::Key << "long_token_fraction" << YAML::Value << mixture.long_token_fraction.at("*");
    } else {
      e << YAML::Key << "long_token_fraction" << YAML::Value << YAML::BeginMap;
      for (const auto& [name, f] : mixture.long_token_fraction) e << YAML::Key << name << YAML::Value << f;
      e << YAML::EndMap;
    }
  }
  if (mixture.max_repeats > 1) {
    e << YAML::Key << "max_repeats" << YAML::Value << mixture.max_repeats;
    e << YAML::Key << "repeat_threshold" << YAML::Value << mixture.repeat_threshold;
  }
  e << YAML::Key << "interleave" << YAML::Value << mixture.interleave;
  e << YAML::EndMap;
  e << YAML::Key << "output" << YAML::Value << YAML::BeginMap;
  e << YAML::Key << "dir" << YAML::Value << output.dir;
  e << YAML::Key << "sequence_length" << YAML::Value << output.sequence_length;
  e << YAML::Key << "chunks_per_shard" << YAML::Value << output.chunks_per_shard;
  e << YAML::Key << "keep_partial_chunk" << YAML::Value << output.keep_partial_chunk;
  e << YAML::EndMap;
  if (validation.tokens_per_source > 0) {
    e << YAML::Key << "validation" << YAML::Value << YAML::BeginMap;
    e << YAML::Key << "tokens_per_source" << YAML::Value << validation.tokens_per_source;
    e << YAML::EndMap;
  }
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace lcde
