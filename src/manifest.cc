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

nlohmann::json ShardInfoToJson(const ShardInfo& s) {
  return {{"name", s.name}, {"chunks", s.chunks}, {"tokens", s.tokens}, {"segments", s.segments},
          {"bin_bytes", s.bin_bytes}, {"idx_bytes", s.idx_bytes}, {"seg_bytes", s.seg_bytes},
          {"bin_sha256", s.bin_sha256}, {"idx_sha256", s.idx_sha256}, {"seg_sha256", s.seg_sha256}};
}

ShardInfo ShardInfoFromJson(const nlohmann::json& j) {
  ShardInfo s;
  s.name = j.at("name");
  s.chunks = j.at("chunks");
  s.tokens = j.at("tokens");
  s.segments = j.at("segments");
  s.bin_bytes = j.at("bin_bytes");
  s.idx_bytes = j.at("idx_bytes");
  s.seg_bytes = j.at("seg_bytes");
  s.bin_sha256 = j.at("bin_sha256");
  s.idx_sha256 = j.at("idx_sha256");
  s.seg_sha256 = j.at("seg_sha256");
  return s;
}

Status WriteManifest(const std::string& dir, const nlohmann::json& manifest) {
  std::string path = (std::filesystem::path(dir) / kManifestName).string();
  return WriteFileAtomically(path, manifest.dump(2) + "\n");
}

}  // namespace lcde
