// `lcde build`: the whole pipeline, from input files to a finished dataset.
//
//   reader thread      files -> documents -> batches (in file order)
//   N worker threads   batch -> token ids (SentencePiece)
//   calling thread     batches in order -> Sampler -> Packer -> DatasetWriter
//
// The calling thread takes batches in the order they were read, so the output
// is the same bytes for every thread count.
#pragma once

#include <string>

#include "lcde/config.h"
#include "lcde/status.h"

namespace lcde {

struct BuildOptions {
  int threads = 0;           // tokenizer threads; 0 = all cores
  bool force = false;        // replace an existing dataset in output.dir
  bool print_stages = false; // --stats: time per stage on stderr
  bool progress = true;      // progress lines on stderr (off with --quiet)
};

// Runs the build described by `config`. Progress goes to stderr; the
// dataset's summary line to stdout. Writes shards, then manifest.json last.
Status RunBuild(const Config& config, const BuildOptions& options);

}  // namespace lcde
