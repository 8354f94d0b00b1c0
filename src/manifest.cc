#include "lcde/manifest.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "lcde/shard_writer.h"

namespace lcde {

Result<nlohmann::json> ReadManifest(const std::string& dir) {
  std::string path = (std::filesystem::path(dir) / kManifestName).string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("no dataset at '" + dir + "': " + path + " does not exist");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption(path + ": not valid JSON");
  if (!j.contains("format_version") || !j["format_version"].is_number_integer()) {
    return Status::Corruption(path + ": no format_version");
  }
  int version = j["format_version"].get<int>();
  if (version > kFormatVersion) {
    return Status::Corruption(path + ": format_version " + std::to_string(version) +
                              " is newer than this lcde reads (" + std::to_string(kFormatVersion) +
                              "); upgrade lcde");
  }
  return j;
}

// Every field, under its own name; reading requires each (json::at).
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ShardInfo, name, chunks, tokens, segments, bin_bytes, idx_bytes, seg_bytes,
                                   bin_sha256, idx_sha256, seg_sha256)

nlohmann::json ShardInfoToJson(const ShardInfo& s) { return s; }

ShardInfo ShardInfoFromJson(const nlohmann::json& j) { return j.get<ShardInfo>(); }

Status WriteManifest(const std::string& dir, const nlohmann::json& manifest) {
  std::string path = (std::filesystem::path(dir) / kManifestName).string();
  return WriteFileAtomically(path, manifest.dump(2) + "\n");
}

}  // namespace lcde
