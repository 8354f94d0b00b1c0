// The sections of `lcde report`'s page, one function each. Each takes the
// arms (one or several datasets) and returns an HTML <section>; numbers are
// read from each arm's stats JSON (StatsToJson), never counted again here.
#pragma once

#include <string>
#include <vector>

#include "lcde/report.h"

namespace lcde::report {

// The sources of all arms, in the order of the first arm's manifest, then
// those only later arms have; a source no arm holds tokens of and none
// targets is left out (as `lcde stats` leaves it out).
std::vector<std::string> ReportSources(const std::vector<ReportArm>& arms);

// Colours: arm i in a comparison, source s (by its index in ReportSources).
std::string ArmColor(size_t arm);
std::string SourceColor(size_t source);

// Each source's share against its target, and the shortfall where a source
// ran out of input.
std::string ShareSection(const std::vector<ReportArm>& arms);
// Tokens by document length, of the dataset and of each source, beside the
// input's (given scans); the long-token fraction against its target.
std::string LengthSection(const std::vector<ReportArm>& arms);
// Documents read, kept, dropped short and dropped over budget, per source.
std::string InputSection(const std::vector<ReportArm>& arms);
// How many documents a chunk holds.
std::string DocsPerChunkSection(const std::vector<ReportArm>& arms);
// The first chunks piece by piece, coloured by source.
std::string FirstChunksSection(const std::vector<ReportArm>& arms);
// Each source's share in windows of chunks, first to last.
std::string AlongDatasetSection(const std::vector<ReportArm>& arms);
// What was built from what: config, seed, tokenizer, version, inputs, totals.
std::string IdentitySection(const std::vector<ReportArm>& arms);
// The stats JSON of every arm (and the scans), as a data block.
std::string EmbeddedDataSection(const std::vector<ReportArm>& arms);

}  // namespace lcde::report
