#include "lcde/manifest.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace lcde {
namespace {

TEST(ManifestTest, RoundTripAndVersionCheck) {
  testing::TempDir dir;
  auto missing = ReadManifest(dir.path().string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Status::Code::kNotFound);

  nlohmann::json m = {{"format_version", kFormatVersion}, {"x", 1}};
  ASSERT_TRUE(WriteManifest(dir.path().string(), m).ok());
  auto back = ReadManifest(dir.path().string());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)["x"], 1);

  m["format_version"] = kFormatVersion + 1;
  ASSERT_TRUE(WriteManifest(dir.path().string(), m).ok());
  auto newer = ReadManifest(dir.path().string());
  ASSERT_FALSE(newer.ok());
  EXPECT_NE(newer.status().message().find("newer"), std::string::npos);

  testing::WriteFile(dir.Join("manifest.json"), "{not json");
  auto bad = ReadManifest(dir.path().string());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Status::Code::kCorruption);
}

}  // namespace
}  // namespace lcde
