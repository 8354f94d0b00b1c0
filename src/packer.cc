#include "lcde/packer.h"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>

namespace lcde {

Packer::Packer(uint64_t sequence_length, ChunkSink* sink)
    : sequence_length_(sequence_length), sink_(sink) {
  chunk_.reserve(sequence_length);
}

Status Packer::Add(uint32_t source, uint64_t document_id, uint64_t doc_tokens,
                   std::span<const int32_t> tokens, uint64_t first_offset) {
  return AddPiece(source, document_id, doc_tokens, first_offset, tokens.subspan(std::min<size_t>(first_offset, tokens.size())));
}

Status Packer::AddPiece(uint32_t source, uint64_t document_id, uint64_t doc_tokens, uint64_t doc_offset,
                        std::span<const int32_t> piece) {
  uint64_t done = 0;
  current_emitted_ = doc_offset;
  while (done < piece.size()) {
    uint64_t room = sequence_length_ - chunk_.size();
    uint64_t take = std::min<uint64_t>(room, piece.size() - done);
    Segment seg;
    seg.chunk = static_cast<uint32_t>(chunks_written_);
    seg.start = static_cast<uint32_t>(chunk_.size());
    seg.length = static_cast<uint32_t>(take);
    seg.source = source;
    seg.document = document_id;
    seg.doc_offset = doc_offset + done;
    seg.doc_tokens = doc_tokens;
    segments_.push_back(seg);
    chunk_.insert(chunk_.end(), piece.begin() + static_cast<ptrdiff_t>(done),
                  piece.begin() + static_cast<ptrdiff_t>(done + take));
    done += take;
    current_emitted_ = doc_offset + done;
    if (chunk_.size() == sequence_length_) LCDE_RETURN_IF_ERROR(Flush());
  }
  return Status::Ok();
}

Status Packer::Flush() {
  // Counted first: the sink may look at stream_tokens() while it takes the chunk.
  chunks_written_++;
  tokens_written_ += chunk_.size();
  LCDE_RETURN_IF_ERROR(sink_->TakeChunk(&chunk_, &segments_));
  if (chunk_.capacity() < sequence_length_) chunk_.reserve(sequence_length_);
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

namespace {

// Chunks handed over and not yet written: enough to ride out an fsync at a
// shard's end, few enough to bound memory (4M-token chunks: 64 MiB). A
// 64 MiB queue removed the packer's waits at 16 threads but not one second
// of wall time (BENCHMARKS.md), so the queue stays short.
constexpr size_t kMaxQueuedChunks = 4;

}  // namespace

DatasetWriter::DatasetWriter(std::string dir, TokenDtype dtype, uint64_t chunks_per_shard)
    : dir_(std::move(dir)), dtype_(dtype), chunks_per_shard_(chunks_per_shard) {}

DatasetWriter::~DatasetWriter() { Abandon(); }

std::string DatasetWriter::ShardName(size_t index) {
  char name[32];
  std::snprintf(name, sizeof(name), "part-%05zu", index);
  return name;
}

Status DatasetWriter::WriteChunk(std::span<const int32_t> tokens, std::span<const Segment> segments) {
  std::vector<int32_t> t(tokens.begin(), tokens.end());
  std::vector<Segment> g(segments.begin(), segments.end());
  return TakeChunk(&t, &g);
}

Status DatasetWriter::TakeChunk(std::vector<int32_t>* tokens, std::vector<Segment>* segments) {
  Job job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!spare_.empty()) {
      job.tokens = std::move(spare_.back().first);
      job.segments = std::move(spare_.back().second);
      spare_.pop_back();
    }
  }
  std::swap(job.tokens, *tokens);
  std::swap(job.segments, *segments);
  if (++queued_in_shard_ >= chunks_per_shard_) {
    queued_in_shard_ = 0;
    job.ends_shard = true;
    if (on_shard_end_) job.done = on_shard_end_();
  }
  return Enqueue(std::move(job));
}

Status DatasetWriter::Enqueue(Job job) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!thread_.joinable() && error_.ok()) {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), "lcde-write");
      WriteLoop();
    });
  }
  if (queue_.size() >= kMaxQueuedChunks && error_.ok()) {
    auto t0 = std::chrono::steady_clock::now();
    cv_.wait(lock, [&] { return queue_.size() < kMaxQueuedChunks || !error_.ok(); });
    wait_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  }
  if (!error_.ok()) return error_;
  queue_.push_back(std::move(job));
  cv_.notify_all();
  return Status::Ok();
}

void DatasetWriter::WriteLoop() {
  for (;;) {
    Job* job;
    bool skip;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return closing_ || !queue_.empty(); });
      if (queue_.empty()) return;
      job = &queue_.front();  // stays put: the caller only appends
      skip = !error_.ok();
    }
    Status s;
    if (!skip) {
      auto t0 = std::chrono::steady_clock::now();
      try {
        s = WriteJob(*job);
      } catch (const std::exception& e) {  // this thread's edge: nothing may escape it
        s = Status::IOError(std::string("writing shard: ") + e.what());
      }
      write_ns_ += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (!s.ok() && error_.ok()) error_ = s;
    job->tokens.clear();
    job->segments.clear();
    spare_.emplace_back(std::move(job->tokens), std::move(job->segments));
    queue_.pop_front();
    cv_.notify_all();
  }
}

Status DatasetWriter::WriteJob(Job& job) {
  if (!job.tokens.empty()) {
    if (!current_) {
      auto builder = ShardBuilder::Create(dir_, ShardName(shards_.size()), dtype_);
      if (!builder.ok()) return builder.status();
      current_ = std::move(builder.value());
    }
    LCDE_RETURN_IF_ERROR(current_->AddChunk(job.tokens, job.segments));
    if (stats_) stats_->AddChunk(stats_->chunks(), job.segments);
  }
  if (!job.ends_shard || !current_) return Status::Ok();
  Result<ShardInfo> info = current_->Finish();
  current_.reset();
  if (!info.ok()) return info.status();
  shards_.push_back(std::move(info.value()));
  return job.done ? job.done(shards_) : Status::Ok();
}

Status DatasetWriter::Drain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  closing_ = false;
  return error_;
}

Status DatasetWriter::Finish() {
  if (queued_in_shard_ > 0) {
    // The last, shorter shard.
    queued_in_shard_ = 0;
    Job job;
    job.ends_shard = true;
    if (on_shard_end_) job.done = on_shard_end_();
    Status s = Enqueue(std::move(job));
    if (!s.ok()) {
      Drain();
      return s;
    }
  }
  return Drain();
}

void DatasetWriter::Abandon() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) error_ = Status::IOError("dataset writer abandoned");
  }
  cv_.notify_all();
  Drain();
  if (current_) current_->Abandon();
  current_.reset();
}

}  // namespace lcde
