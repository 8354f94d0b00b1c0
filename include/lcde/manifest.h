// manifest.json: the one file that describes a dataset (docs/FORMAT.md).
// Written last, atomically: a directory with a manifest is a complete dataset.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "lcde/shard_writer.h"
#include "lcde/status.h"

namespace lcde {

inline constexpr int kFormatVersion = 1;
inline constexpr const char* kManifestName = "manifest.json";

// Reads DIR/manifest.json. Fails with kNotFound when absent, kCorruption when
// it does not parse or its format_version is newer than this lcde reads.
Result<nlohmann::json> ReadManifest(const std::string& dir);

// A shard's entry in the manifest's `shards` table, and back.
nlohmann::json ShardInfoToJson(const ShardInfo& shard);
ShardInfo ShardInfoFromJson(const nlohmann::json& entry);

// Writes DIR/manifest.json atomically (temporary file, fsync, rename).
Status WriteManifest(const std::string& dir, const nlohmann::json& manifest);

}  // namespace lcde
