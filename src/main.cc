// The CLI edge: parses arguments, runs a subcommand, maps Status to an exit
// code. The only place exceptions are caught.
#include <CLI/CLI.hpp>
#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <cstdio>
#include <functional>
#include <iostream>

#include "lcde/build.h"
#include "lcde/config.h"
#include "lcde/inspect.h"
#include "lcde/manifest.h"
#include "lcde/merge.h"
#include "lcde/report.h"
#include "lcde/scan.h"
#include "lcde/stats.h"
#include "lcde/verify.h"
#include "lcde/version.h"

namespace {

using lcde::Status;

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitConfig = 2;
constexpr int kExitBadInput = 3;  // --strict met a bad input line

int ExitCode(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk: return kExitOk;
    case Status::Code::kInvalidConfig:
    case Status::Code::kNotFound: return kExitConfig;
    case Status::Code::kDataError: return kExitBadInput;
    case Status::Code::kInterrupted: return 128 + lcde::InterruptSignal();  // 130 SIGINT, 143 SIGTERM
    default: return kExitFailure;
  }
}

int Report(const Status& s) {
  if (!s.ok()) spdlog::error("{}", s.message());
  return ExitCode(s);
}

struct BuildArgs {
  std::string config;
  std::string output;
  std::vector<std::string> overrides;
  lcde::BuildOptions options;
  bool dry_run = false;
  double dry_run_sample = 0.05;
};

// SLURM array defaults: task index and count from the environment, so an
// array job needs no flags (indices are shifted to start at 0).
void ApplySlurmDefaults(BuildArgs* a, bool index_given, bool count_given) {
  auto env = [](const char* name) -> long {
    const char* v = std::getenv(name);
    return v && *v ? std::strtol(v, nullptr, 10) : -1;
  };
  long id = env("SLURM_ARRAY_TASK_ID"), count = env("SLURM_ARRAY_TASK_COUNT"), min = env("SLURM_ARRAY_TASK_MIN");
  if (!count_given && count > 0) a->options.num_tasks = static_cast<int>(count);
  if (!index_given && id >= 0) a->options.task_index = static_cast<int>(id - (min > 0 ? min : 0));
}

struct ScanArgs {
  std::string config;
  std::vector<std::string> paths;
  std::string tokenizer;
  lcde::ScanOptions options;
  bool json = false;
};

int RunScanCommand(ScanArgs a) {
  lcde::Result<lcde::Config> config = Status::NotFound("");
  if (!a.config.empty()) {
    config = lcde::LoadConfig(a.config);
    if (!config.ok()) return Report(config.status());
    if (a.paths.empty()) a.options.config = &config.value();
    a.options.input = config->input;
    a.options.seed = config->seed;
    a.options.length_threshold = config->mixture.length_threshold;
    if (a.tokenizer.empty()) a.tokenizer = config->tokenizer.model;
  }
  if (!a.paths.empty()) a.options.input.paths = a.paths;
  if (a.options.input.paths.empty()) return Report(Status::InvalidConfig("scan: give --config or input paths"));
  a.options.tokenizer = a.tokenizer;
  auto result = lcde::Scan(a.options);
  if (!result.ok()) return Report(result.status());
  if (a.json) std::cout << lcde::ScanToJson(*result).dump(2) << "\n";
  else std::cout << lcde::FormatScan(*result);
  return kExitOk;
}

int RunBuildCommand(const BuildArgs& a) {
  std::vector<std::string> overrides = a.overrides;
  // -o is a command-line path: relative to the working directory, unlike
  // paths inside the config, which are relative to the config file.
  if (!a.output.empty()) {
    overrides.push_back("output.dir=" + std::filesystem::absolute(a.output).lexically_normal().string());
  }
  auto config = lcde::LoadConfig(a.config, overrides);
  if (!config.ok()) return Report(config.status());
  if (a.dry_run) {
    // The plan against a sample of the input: nothing is written.
    lcde::ScanOptions scan;
    scan.input = config->input;
    scan.seed = config->seed;
    scan.length_threshold = config->mixture.length_threshold;
    scan.tokenizer = config->tokenizer.model;
    scan.sample = a.dry_run_sample;
    scan.config = &config.value();
    scan.threads = a.options.threads;
    auto sample = lcde::Scan(scan);
    if (!sample.ok()) return Report(sample.status());
    std::cout << lcde::FormatPlan(*config, *sample);
    return kExitOk;
  }
  return Report(lcde::RunBuild(*config, a.options));
}

int RunVerifyCommand(const std::string& path) {
  auto report = lcde::VerifyDataset(path);
  if (!report.ok()) return Report(report.status());
  for (const auto& d : report->defects) std::cout << "DEFECT " << d << "\n";
  if (!report->ok()) {
    std::cout << path << ": " << report->defects.size() << " defect(s)\n";
    return kExitFailure;
  }
  std::cout << path << ": OK (" << report->shards << " shards, " << report->chunks << " chunks, "
            << report->tokens << " tokens, " << report->segments << " segments verified)\n";
  return kExitOk;
}

struct StatsArgs {
  std::string path;
  bool json = false;
};

int RunStatsCommand(const StatsArgs& a) {
  auto manifest = lcde::ReadManifest(a.path);
  if (!manifest.ok()) return Report(manifest.status());
  auto stats = lcde::ComputeStats(a.path, *manifest);
  if (!stats.ok()) return Report(stats.status());
  if (a.json) {
    std::cout << lcde::StatsToJson(*stats, *manifest).dump(2) << "\n";
  } else {
    std::cout << "dataset " << a.path << " (format " << (*manifest)["format_version"] << ", lcde "
              << manifest->value("lcde_version", "?") << ", strategy " << manifest->value("strategy", "?")
              << ")\n"
              << lcde::FormatStats(*stats, *manifest);
  }
  return kExitOk;
}

struct InspectArgs {
  std::string path;
  uint64_t chunk = 0;
  bool decode = false;
  bool json = false;
  size_t max_chars = 200;
};

int RunInspectCommand(const InspectArgs& a) {
  auto manifest = lcde::ReadManifest(a.path);
  if (!manifest.ok()) return Report(manifest.status());
  lcde::InspectOptions options;
  options.decode = a.decode;
  auto inspection = lcde::InspectChunk(a.path, *manifest, a.chunk, options);
  if (!inspection.ok()) return Report(inspection.status());
  for (const auto& w : inspection->warnings) spdlog::warn("{}", w);
  if (a.json) {
    // A piece may start or end inside a character (a byte-level id holds
    // part of one): invalid UTF-8 is shown as U+FFFD in JSON.
    std::cout << lcde::InspectionToJson(*inspection, a.max_chars)
                     .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
              << "\n";
  } else {
    std::cout << lcde::FormatInspection(*inspection, a.max_chars);
  }
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // Tokenizer threads allocate nothing per document; a few malloc arenas
  // serve them all and keep a 16-thread build's memory down.
  mallopt(M_ARENA_MAX, 4);
  auto logger = spdlog::stderr_color_mt("lcde");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("lcde: %^%l%$: %v");
  // A file-size limit must surface as a write error, not kill the process.
  std::signal(SIGXFSZ, SIG_IGN);
  lcde::InstallInterruptHandlers();

  CLI::App app{"lcde: long-context data engineering — builds length-upsampled, packed "
               "training data for long-context continual pretraining"};
  app.set_version_flag("--version", std::string("lcde ") + lcde::kVersion);
  app.require_subcommand(1);
  app.fallthrough();  // -q may follow the subcommand
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet, "Only warnings and errors on stderr");

  BuildArgs build;
  StatsArgs stats;
  InspectArgs inspect;
  std::string top_help;
  std::string verify_path;
  std::string merge_dir;
  ScanArgs scan;
  lcde::ReportOptions report;
  lcde::MergeOptions merge_options;
  CLI::Option* build_task_index = nullptr;
  CLI::Option* build_num_tasks = nullptr;
  // Subcommands as a table: name, help, how to add its options, what runs it.
  struct Command {
    const char* name;
    const char* help;
    std::function<void(CLI::App*)> options;
    std::function<int()> run;
  };
  std::vector<Command> commands = {
      {"build", "Build a dataset from a config",
       [&](CLI::App* c) {
         c->add_option("-c,--config", build.config, "YAML config file")->required()->check(CLI::ExistingFile);
         c->add_option("-o,--output", build.output, "Output directory (overrides output.dir)");
         c->add_option("--set", build.overrides, "Override a config key: dotted.key=value (repeatable)");
         c->add_option("-j,--threads", build.options.threads,
                       "Tokenizer threads (default: the available cores; reading, packing and writing run "
                       "beside them at a higher priority)")
             ->check(CLI::NonNegativeNumber);
         c->add_flag("--force", build.options.force, "Replace a dataset already in the output directory");
         c->add_flag("--resume", build.options.resume,
                     "Continue an interrupted build from its checkpoint (same bytes as an uninterrupted one)");
         c->add_flag("--strict", build.options.strict, "Stop at the first rejected input line (exit 3)");
         c->add_flag("--dry-run", build.dry_run,
                     "Print the resolved config, per-source targets and the input the plan needs (from a scan "
                     "sample); write nothing");
         c->add_option("--dry-run-sample", build.dry_run_sample, "Fraction of input files --dry-run scans")
             ->check(CLI::Range(0.0, 1.0));
         build_task_index = c->add_option("--task-index", build.options.task_index,
                                          "This task's index in a job array (default: $SLURM_ARRAY_TASK_ID)");
         build_num_tasks = c->add_option("--num-tasks", build.options.num_tasks,
                                         "Tasks in the job array (default: $SLURM_ARRAY_TASK_COUNT)");
         c->add_flag("--stats", build.options.print_stages, "Print the time spent per stage");
         c->add_option("--stop-after-shards", build.options.stop_after_shards,
                       "Testing: stop as if interrupted after N shards' checkpoint")
             ->group("");
         c->add_option("--read-ahead-batches", build.options.read_ahead_batches,
                       "Testing: bound the batches read ahead of the consumer")
             ->check(CLI::Range(1, 1 << 20))
             ->group("");
         c->add_option("--readers", build.options.readers, "Benchmarks: reader threads")
             ->check(CLI::Range(1, 64))
             ->group("");
         c->add_option("--interleave-memory-tokens", build.options.interleave_memory_tokens,
                       "Testing: tokens the interleaver holds in memory before spilling to disk")
             ->check(CLI::PositiveNumber)
             ->group("");
       },
       [&] {
         ApplySlurmDefaults(&build, build_task_index->count() > 0, build_num_tasks->count() > 0);
         return RunBuildCommand(build);
       }},
      {"scan", "Profile an input without building: per-source documents, tokens, length percentiles",
       [&](CLI::App* c) {
         c->add_option("-c,--config", scan.config, "Take input, tokenizer, seed and threshold from a config");
         c->add_option("paths", scan.paths, "Input files, directories or globs (instead of the config's)");
         c->add_option("--tokenizer", scan.tokenizer, "SentencePiece model (default: the config's)");
         c->add_option("--sample", scan.options.sample, "Fraction of files to read (default 1)")
             ->check(CLI::Range(0.0, 1.0));
         c->add_flag("--exact", scan.options.exact, "Tokenize every document (default: estimate from bytes)");
         c->add_option("--threshold", scan.options.length_threshold, "Long-document threshold in tokens");
         c->add_option("-j,--threads", scan.options.threads, "Threads (default: the available cores)");
         c->add_flag("--json", scan.json, "One JSON object on stdout");
       },
       [&] { return RunScanCommand(scan); }},
      {"merge", "Join the parts of a job-array build (DIR/tasks/*) into one dataset in DIR",
       [&](CLI::App* c) {
         c->add_option("dir", merge_dir, "The build's output.dir")->required();
         c->add_flag("--keep-parts", merge_options.keep_parts, "Leave DIR/tasks/ in place");
       },
       [&] { return Report(lcde::MergeDataset(merge_dir, merge_options)); }},
      {"stats", "Show what a dataset holds",
       [&](CLI::App* c) {
         c->add_option("path", stats.path, "Dataset directory")->required();
         c->add_flag("--json", stats.json, "One JSON object on stdout");
       },
       [&] { return RunStatsCommand(stats); }},
      {"verify", "Check a dataset's files against its manifest; exit 0 only when all hold",
       [&](CLI::App* c) { c->add_option("path", verify_path, "Dataset directory")->required(); },
       [&] { return RunVerifyCommand(verify_path); }},
      {"inspect", "List the document pieces of one chunk, with their origin (and text)",
       [&](CLI::App* c) {
         c->add_option("path", inspect.path, "Dataset directory")->required();
         c->add_option("--chunk", inspect.chunk, "Global chunk index (shards in manifest order)")
             ->required()
             ->check(CLI::NonNegativeNumber);
         c->add_flag("--decode", inspect.decode, "Decode each piece's text with the dataset's tokenizer");
         c->add_flag("--json", inspect.json, "One JSON object on stdout");
         c->add_option("--max-chars", inspect.max_chars, "Characters of text shown per piece (0: all)")
             ->capture_default_str();
       },
       [&] { return RunInspectCommand(inspect); }},
      {"report", "Write one HTML page (charts, no script) showing a dataset, or comparing several",
       [&](CLI::App* c) {
         c->add_option("dirs", report.datasets, "Dataset directories (several: compared side by side)")->required();
         c->add_option("-o,--output", report.output, "The HTML file to write")->required();
         c->add_option("--scan", report.scans,
                       "`lcde scan --json` output of the input: one for every dataset, or one per dataset in "
                       "order (repeatable)")
             ->allow_extra_args(false);  // one file per --scan: DIRs may follow
       },
       [&] { return Report(lcde::WriteReport(report)); }},
      {"help", "Show this help", [](CLI::App*) {}, [&top_help] {
         std::cout << top_help;
         return kExitOk;
       }},
  };
  for (auto& cmd : commands) cmd.options(app.add_subcommand(cmd.name, cmd.help));
  top_help = app.help();  // before parsing narrows help to one subcommand

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitConfig;
  }
  if (quiet) {
    spdlog::set_level(spdlog::level::warn);
    build.options.progress = false;
  }
  try {
    for (auto& cmd : commands) {
      if (app.got_subcommand(cmd.name)) return cmd.run();
    }
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitFailure;
  }
  return kExitFailure;
}
