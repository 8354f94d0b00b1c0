// How many cores a build may use: its CPU affinity, capped by SLURM's
// allocation (SLURM_CPUS_PER_TASK) where the cluster does not bind tasks.
#include "lcde/pipeline.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <cstdlib>
#include <optional>
#include <string>

namespace lcde {
namespace {

// Sets (or unsets) SLURM_CPUS_PER_TASK for one test and restores it after.
class SlurmCpusPerTask {
 public:
  explicit SlurmCpusPerTask(const char* value) {
    if (const char* old = std::getenv(kName)) old_ = old;
    if (value) setenv(kName, value, 1);
    else unsetenv(kName);
  }
  ~SlurmCpusPerTask() {
    if (old_) setenv(kName, old_->c_str(), 1);
    else unsetenv(kName);
  }

 private:
  static constexpr const char* kName = "SLURM_CPUS_PER_TASK";
  std::optional<std::string> old_;
};

int AffinityCount() {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  return CPU_COUNT(&set);
}

TEST(AvailableCoresTest, AffinityWithoutSlurm) {
  SlurmCpusPerTask env(nullptr);
  std::string why;
  EXPECT_EQ(AvailableCores(&why), AffinityCount());
  EXPECT_NE(why.find("CPU affinity"), std::string::npos) << why;
  EXPECT_EQ(why.find("SLURM"), std::string::npos) << why;
}

// An unbound task's mask is the whole node: the allocation caps it.
TEST(AvailableCoresTest, SlurmCpusPerTaskCapsTheAffinity) {
  if (AffinityCount() < 2) GTEST_SKIP() << "needs 2 CPUs in the affinity mask";
  SlurmCpusPerTask env("1");
  std::string why;
  EXPECT_EQ(AvailableCores(&why), 1);
  EXPECT_EQ(why, "1 core: SLURM_CPUS_PER_TASK=1, CPU affinity " + std::to_string(AffinityCount()));
  EXPECT_EQ(ResolveThreads(0), 1);
  EXPECT_EQ(ResolveThreads(3), 3) << "--threads wins";
}

// A bound task's mask may be narrower than its allocation (hyperthreads,
// a taskset inside the job): the mask is what the process can run on.
TEST(AvailableCoresTest, AffinityCapsALargerAllocation) {
  SlurmCpusPerTask env("4096");
  std::string why;
  EXPECT_EQ(AvailableCores(&why), AffinityCount());
  EXPECT_EQ(why.find("SLURM"), std::string::npos) << why;
}

TEST(AvailableCoresTest, IgnoresWhatIsNotACount) {
  for (const char* bad : {"", "0", "-2", "2x", " 1", "abc", "1.5"}) {
    SlurmCpusPerTask env(bad);
    EXPECT_EQ(AvailableCores(), AffinityCount()) << "'" << bad << "'";
  }
}

TEST(AvailableCoresTest, FollowsANarrowedAffinity) {
  cpu_set_t old;
  CPU_ZERO(&old);
  ASSERT_EQ(sched_getaffinity(0, sizeof(old), &old), 0);
  int first = 0;
  while (!CPU_ISSET(first, &old)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  SlurmCpusPerTask env("8");
  const int cores = AvailableCores();
  const int threads = ResolveThreads(0);
  ASSERT_EQ(sched_setaffinity(0, sizeof(old), &old), 0);
  EXPECT_EQ(cores, 1);
  EXPECT_EQ(threads, 1);
}

// With several readers, Next() waits on the current file while the readers
// of later files read ahead; each must have room for a whole input file
// (SlimPajama's ~40 batches) or only the current file's reader moves. The
// bound per reader once summed over 3 readers to less than the common one
// (2 x 12 threads each), and a 16-core per_source build waited on reading.
TEST(DefaultReadAheadTest, ReadersOfLaterFilesEachHaveRoomForAWholeFile) {
  constexpr int kBatchesPerSlimPajamaFile = 40;
  for (int threads = 1; threads <= 256; ++threads) {
    const int readers = DefaultReaders(threads);
    if (readers == 1) continue;
    const ReadAhead bound = DefaultReadAhead(threads, readers);
    SCOPED_TRACE(testing::Message() << threads << " threads, " << readers << " readers");
    EXPECT_GE(bound.common, (readers - 1) * kBatchesPerSlimPajamaFile);
    EXPECT_GE(bound.per_reader, bound.common);
  }
}

// A lone reader reads the file Next() is on (or the next one); more than
// keeps the tokenizers fed is text read past the end of the budget, which a
// small job pays for (2 cores, 5M tokens: 0.57 s with 16 batches, 0.71 s
// with 64).
TEST(DefaultReadAheadTest, ALoneReaderKeepsTwoBatchesPerThread) {
  EXPECT_EQ(DefaultReaders(2), 1);
  EXPECT_EQ(DefaultReadAhead(2, 1).per_reader, 16);
  EXPECT_EQ(DefaultReadAhead(2, 1).common, 16);
  EXPECT_EQ(DefaultReadAhead(12, 1).per_reader, 24);
}

}  // namespace
}  // namespace lcde
