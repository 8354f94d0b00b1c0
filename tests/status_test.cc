#include "lcde/status.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace lcde {
namespace {

TEST(StatusTest, OkCarriesNoMessage) {
  const Status ok = Status::Ok();
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.code(), Status::Code::kOk);
  EXPECT_EQ(ok.message(), "");
  EXPECT_EQ(ok.ToString(), "OK");
  EXPECT_TRUE(Status().ok());
}

TEST(StatusTest, ErrorsKeepCodeAndMessage) {
  const Status s = Status::Corruption("shard 3: bad magic");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kCorruption);
  EXPECT_EQ(s.message(), "shard 3: bad magic");
  EXPECT_EQ(s.ToString(), "corruption: shard 3: bad magic");
  EXPECT_EQ(Status::InvalidConfig("k").ToString(), "invalid config: k");
  EXPECT_EQ(Status::DataError("").code(), Status::Code::kDataError);
  EXPECT_FALSE(Status::DataError("").ok());  // an empty message is still an error
}

// Copies are independent; a moved-from Status is OK (it owns nothing).
TEST(StatusTest, CopiesAndMoves) {
  Status a = Status::IOError("disk full");
  Status b = a;
  EXPECT_EQ(b.message(), "disk full");
  a = Status::NotFound("gone");
  EXPECT_EQ(b.code(), Status::Code::kIOError);
  EXPECT_EQ(b.message(), "disk full");
  b = b;  // self-assignment keeps it
  EXPECT_EQ(b.message(), "disk full");
  Status c = std::move(b);
  EXPECT_EQ(c.message(), "disk full");
  EXPECT_TRUE(b.ok());  // NOLINT(bugprone-use-after-move): the documented state
  c = Status::Ok();
  EXPECT_TRUE(c.ok());
  Result<int> r(Status::Interrupted("signal"));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "signal");
  Result<int> v(7);
  EXPECT_TRUE(v.ok() && v.status().ok() && *v == 7);
}

}  // namespace
}  // namespace lcde
