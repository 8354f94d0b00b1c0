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

Status WriteManifest(const std::string& dir, const nlohmann::json& manifest) {
  std::string path = (std::filesystem::path(dir) / kManifestName).string();
  return WriteFileAtomically(path, manifest.dump(2) + "\n");
}

}  // namespace lcde
