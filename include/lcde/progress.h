// Progress on stderr, as zstd's CLI does it: redrawn in place a few times a
// second on a terminal, a plain line every few seconds in a log (SLURM).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace lcde {

class Progress {
 public:
  // `total` is the token budget. `interactive` defaults to isatty(out).
  Progress(uint64_t total, std::FILE* out = stderr);
  Progress(uint64_t total, std::FILE* out, bool interactive, double log_interval_seconds);

  // Cheap to call often: prints only when the interval has passed.
  void Update(uint64_t tokens_written, uint64_t bytes_read);
  // Prints the final line (ends the redrawn line on a terminal).
  void Finish(uint64_t tokens_written, uint64_t bytes_read);

  std::string Line(uint64_t tokens_written, uint64_t bytes_read, double seconds) const;

 private:
  using Clock = std::chrono::steady_clock;
  uint64_t total_;
  std::FILE* out_;
  bool interactive_;
  double interval_;
  Clock::time_point start_;
  Clock::time_point last_;
};

// Adds the wall time of a scope to a named total; `lcde build --stats` prints
// the totals per stage (like ninja's -d stats).
class StageTimes {
 public:
  void Add(const char* stage, double seconds);
  std::string Report() const;

 private:
  struct Entry { const char* stage; double seconds; uint64_t count; };
  std::vector<Entry> entries_;
};

class ScopedTimer {
 public:
  ScopedTimer(StageTimes* times, const char* stage)
      : times_(times), stage_(stage), start_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() {
    if (times_) {
      times_->Add(stage_, std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
    }
  }

 private:
  StageTimes* times_;
  const char* stage_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace lcde
