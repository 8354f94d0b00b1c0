// RunBuild: the steps of build_run.h, in order.
#include "lcde/build.h"

#include <atomic>
#include <csignal>
#include <cstdio>

#include "build/build_run.h"

namespace lcde {

namespace {

std::atomic<int> g_signal{0};

extern "C" void OnInterrupt(int sig) { g_signal.store(sig); }

}  // namespace

void InstallInterruptHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // a second signal takes the default action: stop now
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int InterruptSignal() { return g_signal.load(); }

void RequestInterrupt(int sig) { g_signal.store(sig); }

std::string TaskDirName(int task_index, int num_tasks) {
  char name[64];
  std::snprintf(name, sizeof(name), "tasks/%05d-of-%05d", task_index, num_tasks);
  return name;
}

Status RunBuild(const Config& config, const BuildOptions& options) {
  BuildRun run(config, options);
  LCDE_RETURN_IF_ERROR(run.Plan());
  bool complete = false;
  LCDE_RETURN_IF_ERROR(run.OpenOutput(&complete));
  if (complete) return Status::Ok();
  LCDE_RETURN_IF_ERROR(run.HoldOutValidation());
  Status status = run.Stream();
  if (status.ok()) status = run.FinishStream();
  if (!status.ok()) return run.Abandon(status);
  return run.Conclude();
}

}  // namespace lcde
