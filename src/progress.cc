#include "lcde/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace lcde {

namespace {

std::string Human(double v, const char* unit) {
  const char* prefixes[] = {"", "K", "M", "G", "T"};
  int p = 0;
  while (v >= 1000 && p < 4) { v /= 1000; ++p; }
  char buf[32];
  std::snprintf(buf, sizeof(buf), p == 0 ? "%.0f%s%s" : "%.2f%s%s", v, prefixes[p], unit);
  return buf;
}

std::string Duration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  char buf[32];
  long total = static_cast<long>(s + 0.5);
  if (total >= 3600) std::snprintf(buf, sizeof(buf), "%ldh%02ldm", total / 3600, (total / 60) % 60);
  else if (total >= 60) std::snprintf(buf, sizeof(buf), "%ldm%02lds", total / 60, total % 60);
  else std::snprintf(buf, sizeof(buf), "%lds", total);
  return buf;
}

}  // namespace

Progress::Progress(uint64_t total, std::FILE* out)
    : Progress(total, out, isatty(fileno(out)) != 0, 5.0) {}

Progress::Progress(uint64_t total, std::FILE* out, bool interactive, double log_interval_seconds)
    : total_(total), out_(out), interactive_(interactive),
      interval_(interactive ? 0.25 : log_interval_seconds), start_(Clock::now()), last_(start_) {}

std::string Progress::Line(uint64_t tokens, uint64_t bytes, double seconds) const {
  double rate = seconds > 0 ? static_cast<double>(tokens) / seconds : 0;
  double pct = total_ ? 100.0 * static_cast<double>(tokens) / static_cast<double>(total_) : 0;
  double eta = rate > 0 ? static_cast<double>(total_ - std::min(tokens, total_)) / rate : -1;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "lcde: %s / %s tokens (%.1f%%), %s/s, read %s, elapsed %s, ETA %s",
                Human(static_cast<double>(tokens), "").c_str(), Human(static_cast<double>(total_), "").c_str(),
                pct, Human(rate, "tok").c_str(), Human(static_cast<double>(bytes), "B").c_str(),
                Duration(seconds).c_str(), Duration(eta).c_str());
  return buf;
}

void Progress::Update(uint64_t tokens, uint64_t bytes) {
  Clock::time_point now = Clock::now();
  if (std::chrono::duration<double>(now - last_).count() < interval_) return;
  last_ = now;
  std::string line = Line(tokens, bytes, std::chrono::duration<double>(now - start_).count());
  if (interactive_) std::fprintf(out_, "\r%s\x1b[K", line.c_str());
  else std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void Progress::Finish(uint64_t tokens, uint64_t bytes) {
  std::string line = Line(tokens, bytes, std::chrono::duration<double>(Clock::now() - start_).count());
  if (interactive_) std::fprintf(out_, "\r%s\x1b[K\n", line.c_str());
  else std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void StageTimes::Add(const char* stage, double seconds) {
  for (auto& e : entries_) {
    if (std::strcmp(e.stage, stage) == 0) {
      e.seconds += seconds;
      e.count++;
      return;
    }
  }
  entries_.push_back({stage, seconds, 1});
}

std::string StageTimes::Report() const {
  // The first column is as wide as the longest stage name.
  int width = 24;
  for (const auto& e : entries_) width = std::max(width, static_cast<int>(std::strlen(e.stage)));
  std::string out;
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%-*s %9s %7s\n", width, "stage", "seconds", "count");
  out += buf;
  for (const auto& e : entries_) {
    std::snprintf(buf, sizeof(buf), "%-*s %9.3f %7llu\n", width, e.stage, e.seconds,
                  static_cast<unsigned long long>(e.count));
    out += buf;
  }
  return out;
}

}  // namespace lcde
