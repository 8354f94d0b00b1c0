// Checkpoints: taken after every shard, read back by --resume.
#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>

#include "build/build_run.h"
#include "lcde/manifest.h"
#include "lcde/sha256.h"

namespace lcde {

namespace fs = std::filesystem;
using nlohmann::json;

Status BuildRun::Resume(const json& cp) {
  std::vector<ShardInfo> shards;
  std::vector<std::string> keep = {kCheckpointName, "validation"};
  if (cp.contains("repeats")) keep.push_back(cp["repeats"].value("file", ""));
  if (cp.contains("interleaver")) {
    keep.push_back(cp["interleaver"].value("file", ""));
    for (const auto& f : Interleaver::FilesOf(cp["interleaver"])) keep.push_back(f);
  }
  for (const auto& s : cp.at("shards")) {
    ShardInfo info = ShardInfoFromJson(s);
    for (const char* ext : {".bin", ".idx", ".seg"}) {
      fs::path p = fs::path(dir_) / (info.name + ext);
      std::error_code ec;
      std::string e = ext;
      uint64_t want = e == ".bin" ? info.bin_bytes : e == ".idx" ? info.idx_bytes : info.seg_bytes;
      if (fs::file_size(p, ec) != want || ec) {
        return Status::Corruption("cannot resume: " + p.string() + " is missing or not " + std::to_string(want) +
                                  " bytes as the checkpoint records");
      }
      keep.push_back(info.name + ext);
    }
    shards.push_back(std::move(info));
  }
  // Shards finished after the checkpoint, debris, an old manifest: rebuilt identically.
  LCDE_RETURN_IF_ERROR(PrepareOutputDir(dir_, true, keep));
  if (cp.contains("repeats")) LCDE_RETURN_IF_ERROR(RestoreRepeats(dir_, cp.at("repeats"), repeats_.get()));
  if (cp.contains("interleaver")) {
    auto records = ReadCheckpointFile(dir_, cp["interleaver"], kCheckpointQueuesPrefix);
    if (!records.ok()) return records.status();
    Status s = interleaver_->Restore(cp["interleaver"], *records);
    if (!s.ok()) return Status::Corruption("cannot resume in " + dir_ + ": " + s.message());
  }
  // The shards already written are counted from their segment files; the
  // rest as they are written.
  for (const auto& info : shards) {
    LCDE_RETURN_IF_ERROR(stats_->AddSegmentFile((fs::path(dir_) / (info.name + ".seg")).string(), stats_->chunks(),
                                                info.chunks, UINT32_MAX));
  }
  state_->FromJson(cp.at("state"));
  RestoreSampler(cp.at("sources"), sampler_.get());
  packer_->Restore(cp.at("chunks_written"), cp.at("tokens_written"));
  writer_->Restore(std::move(shards));
  start_ = {state_->next_file, state_->next_line};
  spdlog::info("resuming in {}: {} shards, {} chunks done", dir_, writer_->shards().size(), packer_->chunks_written());
  return Status::Ok();
}

// What a checkpoint records is taken on the consuming thread when a shard's
// last chunk leaves the packer (the stream stands exactly there); the
// writing thread saves it once the shard is in place.
void BuildRun::InstallCheckpointing() {
  writer_->set_on_shard_end([this]() { return TakeCheckpoint(); });
}

DatasetWriter::ShardDone BuildRun::TakeCheckpoint() {
  json cp = {{"format_version", kFormatVersion}, {"fingerprint", fingerprint_},
             {"sources", SourceCountsJson(*sampler_)}, {"state", state_->ToJson()}};
  std::vector<int32_t> repeat_tokens;
  if (!repeats_->empty()) cp["repeats"] = repeats_->Save(packer_->current_document_emitted(), &repeat_tokens);
  // While a repeated copy is being appended, the document in flight is all out.
  uint64_t in_flight_emitted = repeats_->in_flight() ? UINT64_MAX : packer_->current_document_emitted();
  std::string queued;
  Result<json> saved = interleaver_->Save(in_flight_emitted, &queued);
  std::vector<std::string> drained = interleaver_->TakeDrainedFiles();
  if (saved.ok() && !interleaver_->empty()) cp["interleaver"] = std::move(*saved);
  Status save_status = saved.ok() ? Status::Ok() : saved.status();
  return [this, cp = std::move(cp), repeat_tokens = std::move(repeat_tokens), queued = std::move(queued),
          drained = std::move(drained), save_status](const std::vector<ShardInfo>& done) mutable -> Status {
    LCDE_RETURN_IF_ERROR(save_status);
    json shards = json::array();
    uint64_t chunks = 0, tokens = 0;
    for (const auto& s : done) {
      shards.push_back(ShardInfoToJson(s));
      chunks += s.chunks;
      tokens += s.tokens;
    }
    cp["shards"] = shards;
    cp["chunks_written"] = chunks;
    cp["tokens_written"] = tokens;
    // Files named per checkpoint: the previous checkpoint.json stays valid until the new one replaces it.
    std::vector<std::string> files;
    auto write = [&](const char* key, const std::string& name, std::string_view bytes) -> Status {
      LCDE_RETURN_IF_ERROR(WriteFileAtomically((fs::path(dir_) / name).string(), bytes));
      cp[key]["file"] = name;
      cp[key]["sha256"] = Sha256Hex(bytes);
      files.push_back(name);
      return Status::Ok();
    };
    if (cp.contains("repeats")) {
      LCDE_RETURN_IF_ERROR(write("repeats", RepeatsFileName(done.size()),
                                 std::string_view(reinterpret_cast<const char*>(repeat_tokens.data()),
                                                  repeat_tokens.size() * sizeof(int32_t))));
    }
    if (cp.contains("interleaver")) LCDE_RETURN_IF_ERROR(write("interleaver", QueuesFileName(done.size()), queued));
    LCDE_RETURN_IF_ERROR(WriteFileAtomically((fs::path(dir_) / kCheckpointName).string(), cp.dump() + "\n"));
    std::error_code ec;
    for (const auto& f : checkpoint_files_) {
      if (std::find(files.begin(), files.end(), f) == files.end()) fs::remove(fs::path(dir_) / f, ec);
    }
    for (const auto& f : drained) fs::remove(fs::path(dir_) / f, ec);
    checkpoint_files_ = std::move(files);
    if (options_.stop_after_shards > 0 && done.size() == options_.stop_after_shards) {
      RequestInterrupt(SIGTERM);
      return Status::Interrupted("stopped after " + std::to_string(options_.stop_after_shards) +
                                 " shards (--stop-after-shards)");
    }
    return Status::Ok();
  };
}

// The dataset is complete; the checkpoint has nothing left to say.
Status BuildRun::RemoveCheckpointFiles() {
  interleaver_->RemoveFiles();
  std::error_code ec;
  fs::remove(fs::path(dir_) / kCheckpointName, ec);
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.starts_with("checkpoint.") || name.starts_with(kSpillFilePrefix)) fs::remove(e.path(), ec);
  }
  return Status::Ok();
}

}  // namespace lcde
