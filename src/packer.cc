#include "lcde/packer.h"

#include <algorithm>
#include <cstdio>

namespace lcde {

Packer::Packer(uint64_t sequence_length, ChunkSink* sink)
    : sequence_length_(sequence_length), sink_(sink) {
  chunk_.reserve(sequence_length);
}

Status Packer::Add(uint32_t source, uint64_t document_id, uint64_t doc_tokens,
                   std::span<const int32_t> tokens, uint64_t first_offset) {
  uint64_t offset = first_offset;
  current_emitted_ = offset;
  while (offset < tokens.size()) {
    uint64_t room = sequence_length_ - chunk_.size();
    uint64_t take = std::min<uint64_t>(room, tokens.size() - offset);
    Segment seg;
    seg.chunk = static_cast<uint32_t>(chunks_written_);
    seg.start = static_cast<uint32_t>(chunk_.size());
    seg.length = static_cast<uint32_t>(take);
    seg.source = source;
    seg.document = document_id;
    seg.doc_offset = offset;
    seg.doc_tokens = doc_tokens;
    segments_.push_back(seg);
    chunk_.insert(chunk_.end(), tokens.begin() + static_cast<ptrdiff_t>(offset),
                  tokens.begin() + static_cast<ptrdiff_t>(offset + take));
    offset += take;
    current_emitted_ = offset;
    if (chunk_.size() == sequence_length_) LCDE_RETURN_IF_ERROR(Flush());
  }
  return Status::Ok();
}

Status Packer::Flush() {
  LCDE_RETURN_IF_ERROR(sink_->WriteChunk(chunk_, segments_));
  chunks_written_++;
  tokens_written_ += chunk_.size();
  chunk_.clear();
  segments_.clear();
  return Status::Ok();
}

Status Packer::Finish(bool keep_partial) {
  if (chunk_.empty()) return Status::Ok();
  if (keep_partial) return Flush();
  dropped_tail_tokens_ += chunk_.size();
  chunk_.clear();
  segments_.clear();
  return Status::Ok();
}

DatasetWriter::DatasetWriter(std::string dir, TokenDtype dtype, uint64_t chunks_per_shard)
    : dir_(std::move(dir)), dtype_(dtype), chunks_per_shard_(chunks_per_shard) {}

DatasetWriter::~DatasetWriter() { Abandon(); }

std::string DatasetWriter::ShardName(size_t index) {
  char name[32];
  std::snprintf(name, sizeof(name), "part-%05zu", index);
  return name;
}

Status DatasetWriter::WriteChunk(std::span<const int32_t> tokens, std::span<const Segment> segments) {
  if (!current_) {
    auto builder = ShardBuilder::Create(dir_, ShardName(shards_.size()), dtype_);
    if (!builder.ok()) return builder.status();
    current_ = std::move(builder.value());
  }
  LCDE_RETURN_IF_ERROR(current_->AddChunk(tokens, segments));
  if (current_->chunks() >= chunks_per_shard_) return Finish();
  return Status::Ok();
}

Status DatasetWriter::Finish() {
  if (!current_) return Status::Ok();
  Result<ShardInfo> info = current_->Finish();
  current_.reset();
  if (!info.ok()) return info.status();
  shards_.push_back(std::move(info.value()));
  if (on_shard_done_) return on_shard_done_(shards_.back());
  return Status::Ok();
}

void DatasetWriter::Abandon() {
  if (current_) current_->Abandon();
  current_.reset();
}

}  // namespace lcde
