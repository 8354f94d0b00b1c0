// The CLI edge: parses arguments, runs a subcommand, maps Status to an exit
// code. The only place exceptions are caught.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>
#include <cstdio>
#include <functional>
#include <iostream>

#include "lcde/build.h"
#include "lcde/config.h"
#include "lcde/manifest.h"
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
};

int RunBuildCommand(const BuildArgs& a) {
  std::vector<std::string> overrides = a.overrides;
  // -o is a command-line path: relative to the working directory, unlike
  // paths inside the config, which are relative to the config file.
  if (!a.output.empty()) {
    overrides.push_back("output.dir=" + std::filesystem::absolute(a.output).lexically_normal().string());
  }
  auto config = lcde::LoadConfig(a.config, overrides);
  if (!config.ok()) return Report(config.status());
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

}  // namespace

int main(int argc, char** argv) {
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
  std::string top_help;
  std::string verify_path;
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
         c->add_option("-j,--threads", build.options.threads, "Tokenizer threads (default: all cores)")
             ->check(CLI::NonNegativeNumber);
         c->add_flag("--force", build.options.force, "Replace a dataset already in the output directory");
         c->add_flag("--resume", build.options.resume,
                     "Continue an interrupted build from its checkpoint (same bytes as an uninterrupted one)");
         c->add_flag("--strict", build.options.strict, "Stop at the first rejected input line (exit 3)");
         c->add_flag("--stats", build.options.print_stages, "Print the time spent per stage");
       },
       [&] { return RunBuildCommand(build); }},
      {"stats", "Show what a dataset holds",
       [&](CLI::App* c) {
         c->add_option("path", stats.path, "Dataset directory")->required();
         c->add_flag("--json", stats.json, "One JSON object on stdout");
       },
       [&] { return RunStatsCommand(stats); }},
      {"verify", "Check a dataset's files against its manifest; exit 0 only when all hold",
       [&](CLI::App* c) { c->add_option("path", verify_path, "Dataset directory")->required(); },
       [&] { return RunVerifyCommand(verify_path); }},
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
