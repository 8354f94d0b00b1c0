// `lcde merge DIR`: joins the parts that SLURM array tasks wrote under
// DIR/tasks/ into one dataset in DIR: shards renumbered (hard links, no
// copies), one manifest with totals and stats recomputed. Refuses parts
// built from different configs, tokenizers or input lists, and incomplete
// sets of tasks.
#pragma once

#include <string>

#include "lcde/status.h"

namespace lcde {

struct MergeOptions {
  bool keep_parts = false;  // leave DIR/tasks/ in place after merging
};

Status MergeDataset(const std::string& dir, const MergeOptions& options);

}  // namespace lcde
