#include "checkpoint.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "lcde/build.h"
#include "lcde/shard_writer.h"
#include "lcde/sha256.h"

namespace lcde {

namespace fs = std::filesystem;
using nlohmann::json;

json BuildState::ToJson() const {
  json ex = json::array();
  for (const auto& [reason, e] : rejects.examples) {
    ex.push_back({{"reason", static_cast<int>(reason)}, {"file", e.file}, {"line", e.line}, {"detail", e.detail}});
  }
  return {{"file_lines", file_lines}, {"file_bytes", file_bytes}, {"file_touched", file_touched},
          {"reject_counts", rejects.counts}, {"reject_examples", ex}, {"documents", documents},
          {"kept", kept}, {"dropped_short", dropped_short}, {"dropped_budget", dropped_budget},
          {"dropped_unknown", dropped_unknown}, {"truncated", truncated}, {"held_out", held_out},
          {"special_token_text", special_token_text}, {"next_file", next_file}, {"next_line", next_line}};
}

void BuildState::FromJson(const json& j) {
  j.at("file_lines").get_to(file_lines);
  j.at("file_bytes").get_to(file_bytes);
  j.at("file_touched").get_to(file_touched);
  j.at("reject_counts").get_to(rejects.counts);
  rejects.examples.clear();
  for (const auto& e : j.at("reject_examples")) {
    rejects.examples.emplace_back(static_cast<RejectReason>(e.at("reason").get<int>()),
                                  RejectExample{e.at("file"), e.at("line"), e.at("detail")});
  }
  documents = j.at("documents");
  kept = j.at("kept");
  dropped_short = j.at("dropped_short");
  dropped_budget = j.at("dropped_budget");
  dropped_unknown = j.at("dropped_unknown");
  truncated = j.at("truncated");
  held_out = j.at("held_out");
  special_token_text = j.value("special_token_text", uint64_t{0});  // absent in older checkpoints
  next_file = j.at("next_file");
  next_line = j.at("next_line");
}

json SourceCountsJson(const Sampler& sampler) {
  json a = json::array();
  for (uint32_t i = 0; i < sampler.source_names().size(); ++i) {
    const SourceCounts& c = sampler.counts(i);
    a.push_back({{"name", sampler.source_names()[i]}, {"seen", c.seen}, {"kept", c.kept},
                 {"kept_tokens", c.kept_tokens}, {"kept_long_tokens", c.kept_long_tokens},
                 {"dropped_short", c.dropped_short}, {"dropped_budget", c.dropped_budget},
                 {"truncated", c.truncated}, {"repeated", c.repeated}, {"repeated_tokens", c.repeated_tokens}});
  }
  return a;
}

void RestoreSampler(const json& a, Sampler* sampler) {
  std::vector<std::string> names;
  std::vector<SourceCounts> counts;
  for (const auto& s : a) {
    names.push_back(s.at("name"));
    SourceCounts c;
    c.seen = s.at("seen");
    c.kept = s.at("kept");
    c.kept_tokens = s.at("kept_tokens");
    c.kept_long_tokens = s.at("kept_long_tokens");
    c.dropped_short = s.at("dropped_short");
    c.dropped_budget = s.at("dropped_budget");
    c.truncated = s.at("truncated");
    c.repeated = s.value("repeated", uint64_t{0});
    c.repeated_tokens = s.value("repeated_tokens", uint64_t{0});
    counts.push_back(c);
  }
  sampler->Restore(names, counts);
}

// The file holding the token ids of a checkpoint's pending repeated copies.
std::string RepeatsFileName(size_t shards) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s%05zu", kCheckpointRepeatsPrefix, shards);
  return name;
}

std::string QueuesFileName(size_t shards) {
  char name[64];
  std::snprintf(name, sizeof(name), "%s%05zu", kCheckpointQueuesPrefix, shards);
  return name;
}

Result<std::string> ReadCheckpointFile(const std::string& dir, const json& saved, const char* prefix) {
  std::string name = saved.value("file", "");
  if (!name.starts_with(prefix) || name.find('/') != std::string::npos) {
    return Status::Corruption(std::string("cannot resume: the checkpoint names no valid ") + prefix + "NNNNN file");
  }
  std::string path = (fs::path(dir) / name).string();
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Status::IOError("cannot resume: cannot read " + path);
  std::string want = saved.value("sha256", "");
  if (Sha256Hex(bytes) != want) {
    return Status::Corruption("cannot resume: " + path + " is missing or not what the checkpoint records");
  }
  return bytes;
}

Status RestoreRepeats(const std::string& dir, const json& saved, RepeatQueue* repeats) {
  auto bytes = ReadCheckpointFile(dir, saved, kCheckpointRepeatsPrefix);
  if (!bytes.ok()) return bytes.status();
  std::string path = (fs::path(dir) / saved.value("file", "")).string();
  if (bytes->size() % sizeof(int32_t) != 0) return Status::Corruption("cannot resume: " + path + ": not int32 ids");
  std::vector<int32_t> tokens(bytes->size() / sizeof(int32_t));
  std::memcpy(tokens.data(), bytes->data(), bytes->size());
  Status s = repeats->Restore(saved, tokens);
  return s.ok() ? s : Status::Corruption("cannot resume: " + path + ": " + s.message());
}

}  // namespace lcde
