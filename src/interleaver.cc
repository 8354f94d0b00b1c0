#include "lcde/interleaver.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>

namespace lcde {

namespace fs = std::filesystem;
using nlohmann::json;

static_assert(std::endian::native == std::endian::little, "spill records are little-endian");

namespace {

// One queued document on disk: this header, then n_tokens int32 ids.
struct RecordHeader {
  uint32_t source;
  uint32_t copies;
  uint64_t id;
  uint64_t doc_tokens;
  uint64_t take;
  uint64_t last_copy_tokens;
  uint64_t emitted;
  uint64_t n_tokens;
};
static_assert(sizeof(RecordHeader) == 56);

RecordHeader HeaderOf(const QueuedDocument& d) {
  return {d.source, d.copies.count, d.id, d.doc_tokens, d.take, d.copies.last_tokens, d.emitted, d.tokens.size()};
}

// Everything but the token ids, which are sized for reading.
void FromHeader(const RecordHeader& h, QueuedDocument* d) {
  d->source = h.source;
  d->copies = {h.copies, h.last_copy_tokens};
  d->id = h.id;
  d->doc_tokens = h.doc_tokens;
  d->take = h.take;
  d->emitted = h.emitted;
  d->tokens.resize(h.n_tokens);
}

void AppendRecord(const QueuedDocument& d, std::string* out) {
  RecordHeader h = HeaderOf(d);
  out->append(reinterpret_cast<const char*>(&h), sizeof(h));
  out->append(reinterpret_cast<const char*>(d.tokens.data()), d.tokens.size() * sizeof(int32_t));
}

// Reads one record from `bytes` at *pos; false when it does not fit.
bool ParseRecord(std::string_view bytes, size_t* pos, QueuedDocument* d) {
  RecordHeader h;
  if (bytes.size() - *pos < sizeof(h)) return false;
  std::memcpy(&h, bytes.data() + *pos, sizeof(h));
  if (h.n_tokens > (bytes.size() - *pos - sizeof(h)) / sizeof(int32_t)) return false;
  FromHeader(h, d);
  std::memcpy(d->tokens.data(), bytes.data() + *pos + sizeof(h), h.n_tokens * sizeof(int32_t));
  *pos += sizeof(h) + h.n_tokens * sizeof(int32_t);
  return true;
}

Status WriteAll(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IOError("cannot write " + path + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status ReadAt(int fd, void* out, size_t size, uint64_t offset, const std::string& path) {
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd, static_cast<char*>(out) + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IOError("cannot read " + path + ": " + (n == 0 ? "unexpected end" : std::strerror(errno)));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

struct Interleaver::Queue {
  std::deque<QueuedDocument> memory;
  uint64_t memory_tokens = 0;
  uint64_t released = 0;  // budget tokens released
  // The spill file: records [read, end) are queued (after every document in memory).
  int fd = -1;
  std::string file;
  uint64_t generation = 0;
  uint64_t read = 0, end = 0;
  uint64_t spilled_documents = 0;
  std::optional<RecordHeader> head;  // the record at `read`, once looked at

  bool spilled() const { return spilled_documents > 0; }
  bool empty() const { return memory.empty() && !spilled(); }
};

Interleaver::Interleaver(std::vector<uint64_t> budgets, std::string spill_dir, uint64_t memory_tokens)
    : budgets_(std::move(budgets)), dir_(std::move(spill_dir)), memory_limit_(memory_tokens),
      queues_(budgets_.size()) {}

Interleaver::~Interleaver() {
  for (auto& q : queues_)
    if (q.fd >= 0) ::close(q.fd);
}

bool Interleaver::empty() const {
  if (has_in_flight_) return false;
  for (const auto& q : queues_)
    if (!q.empty()) return false;
  return true;
}

Status Interleaver::Push(uint32_t queue, uint32_t source, uint64_t id, uint64_t doc_tokens, uint64_t take,
                         Copies copies, std::span<const int32_t> tokens) {
  Queue& q = queues_[queue];
  QueuedDocument d;
  d.source = source;
  d.id = id;
  d.doc_tokens = doc_tokens;
  d.take = take;
  d.copies = copies;
  d.tokens.assign(tokens.begin(), tokens.end());
  if (q.spilled()) {
    std::string bytes;
    AppendRecord(d, &bytes);
    LCDE_RETURN_IF_ERROR(WriteAll(q.fd, bytes, (fs::path(dir_) / q.file).string()));
    q.end += bytes.size();
    q.spilled_documents++;
    spilled_tokens_ += tokens.size();
    return Status::Ok();
  }
  q.memory_tokens += tokens.size();
  memory_tokens_ += tokens.size();
  q.memory.push_back(std::move(d));
  return memory_tokens_ > memory_limit_ ? Spill() : Status::Ok();
}

// Moves queues to new spill files, those holding most tokens in memory
// first, until memory is within its bound. Queues with a file already keep
// in memory at most their partly released head.
Status Interleaver::Spill() {
  while (memory_tokens_ > memory_limit_) {
    bool spilled = false;
    LCDE_RETURN_IF_ERROR(SpillLargest(&spilled));
    if (!spilled) break;
  }
  return Status::Ok();
}

Status Interleaver::SpillLargest(bool* spilled) {
  int pick = -1;
  for (size_t i = 0; i < queues_.size(); ++i) {
    if (queues_[i].spilled() || queues_[i].memory.empty()) continue;
    if (pick < 0 || queues_[i].memory_tokens > queues_[static_cast<size_t>(pick)].memory_tokens) pick = static_cast<int>(i);
  }
  *spilled = pick >= 0;
  if (pick < 0) return Status::Ok();
  Queue& q = queues_[static_cast<size_t>(pick)];
  char name[80];
  std::snprintf(name, sizeof(name), "%s%03d.%06llu", kSpillFilePrefix, pick,
                static_cast<unsigned long long>(q.generation));
  q.file = name;
  std::string path = (fs::path(dir_) / q.file).string();
  q.fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (q.fd < 0) return Status::IOError("cannot create " + path + ": " + std::strerror(errno));
  std::string bytes;
  for (const auto& d : q.memory) AppendRecord(d, &bytes);
  LCDE_RETURN_IF_ERROR(WriteAll(q.fd, bytes, path));
  q.read = 0;
  q.end = bytes.size();
  q.spilled_documents = q.memory.size();
  q.head.reset();
  spilled_tokens_ += q.memory_tokens;
  memory_tokens_ -= q.memory_tokens;
  q.memory_tokens = 0;
  q.memory.clear();
  return Status::Ok();
}

// Reads the header of a spilled queue's next record when memory holds none.
Status Interleaver::PeekHead(uint32_t queue) {
  Queue& q = queues_[queue];
  if (!q.memory.empty() || !q.spilled() || q.head) return Status::Ok();
  RecordHeader h;
  LCDE_RETURN_IF_ERROR(ReadAt(q.fd, &h, sizeof(h), q.read, (fs::path(dir_) / q.file).string()));
  q.head = h;
  return Status::Ok();
}

// Budget tokens the queue's next piece stands for (its copies with the last piece).
uint64_t Interleaver::NextCharge(uint32_t queue, uint64_t room) const {
  const Queue& q = queues_[queue];
  uint64_t take, emitted, doc_tokens;
  Copies copies;
  if (!q.memory.empty()) {
    const QueuedDocument& d = q.memory.front();
    take = d.take, emitted = d.emitted, doc_tokens = d.doc_tokens, copies = d.copies;
  } else if (q.spilled()) {
    const RecordHeader& h = *q.head;
    take = h.take, emitted = h.emitted, doc_tokens = h.doc_tokens, copies = {h.copies, h.last_copy_tokens};
  } else {
    return 0;
  }
  uint64_t piece = std::min(take - emitted, room);
  return piece + (emitted + piece == take ? copies.total_tokens(doc_tokens) : 0);
}

// Whether queue a's next piece belongs before queue b's: its middle lies
// earlier in its budget. Exact in integers, so no platform rounds differently.
bool Interleaver::Before(uint32_t a, uint32_t b, uint64_t room) const {
  using u128 = unsigned __int128;
  u128 ka = (u128{queues_[a].released} * 2 + NextCharge(a, room)) * budgets_[b];
  u128 kb = (u128{queues_[b].released} * 2 + NextCharge(b, room)) * budgets_[a];
  return ka < kb || (ka == kb && a < b);
}

Status Interleaver::Pop(uint32_t queue, QueuedDocument* doc) {
  Queue& q = queues_[queue];
  if (!q.memory.empty()) {
    std::swap(*doc, q.memory.front());
    q.memory.pop_front();
    q.memory_tokens -= doc->tokens.size();
    memory_tokens_ -= doc->tokens.size();
    return Status::Ok();
  }
  LCDE_RETURN_IF_ERROR(PeekHead(queue));
  std::string path = (fs::path(dir_) / q.file).string();
  const RecordHeader& h = *q.head;
  FromHeader(h, doc);
  LCDE_RETURN_IF_ERROR(ReadAt(q.fd, doc->tokens.data(), h.n_tokens * sizeof(int32_t), q.read + sizeof(h), path));
  q.read += sizeof(h) + h.n_tokens * sizeof(int32_t);
  q.head.reset();
  if (--q.spilled_documents == 0) {
    // Drained: the next spill starts a new file; this one goes once a checkpoint no longer names it.
    ::close(q.fd);
    q.fd = -1;
    drained_.push_back(q.file);
    q.file.clear();
    q.read = q.end = 0;
    q.generation++;
  }
  return Status::Ok();
}

Status Interleaver::EmitInFlight(const Emit& emit, bool resumed) {
  has_in_flight_ = true;
  Status s = emit(in_flight_, in_flight_until_, resumed);
  has_in_flight_ = false;
  LCDE_RETURN_IF_ERROR(s);
  in_flight_.emitted = in_flight_until_;
  if (in_flight_.emitted < in_flight_.take) {
    // The rest waits at the head of its queue (older than anything spilled).
    Queue& q = queues_[in_flight_queue_];
    q.memory_tokens += in_flight_.tokens.size();
    memory_tokens_ += in_flight_.tokens.size();
    q.memory.push_front(std::move(in_flight_));
    in_flight_ = QueuedDocument();
  }
  return Status::Ok();
}

Status Interleaver::Release(const MayGrow& may_grow, const Room& room, const Emit& emit) {
  if (has_in_flight_) LCDE_RETURN_IF_ERROR(EmitInFlight(emit, true));  // restored from a checkpoint
  for (;;) {
    const uint64_t left = room();
    int best = -1;
    for (uint32_t i = 0; i < queues_.size(); ++i) {
      if (budgets_[i] == 0 || (queues_[i].empty() && !may_grow(i))) continue;
      LCDE_RETURN_IF_ERROR(PeekHead(i));
      if (best < 0 || Before(i, static_cast<uint32_t>(best), left)) best = static_cast<int>(i);
    }
    if (best < 0 || queues_[static_cast<size_t>(best)].empty()) return Status::Ok();
    in_flight_queue_ = static_cast<uint32_t>(best);
    uint64_t charge = NextCharge(in_flight_queue_, left);
    LCDE_RETURN_IF_ERROR(Pop(in_flight_queue_, &in_flight_));
    in_flight_until_ = in_flight_.emitted + std::min(in_flight_.take - in_flight_.emitted, left);
    queues_[in_flight_queue_].released += charge;
    LCDE_RETURN_IF_ERROR(EmitInFlight(emit, false));
  }
}

Result<json> Interleaver::Save(uint64_t in_flight_emitted, std::string* records) {
  records->clear();
  json saved;
  saved["in_flight"] = has_in_flight_;
  if (has_in_flight_) {
    QueuedDocument d = in_flight_;
    d.emitted = std::clamp(in_flight_emitted, in_flight_.emitted, in_flight_until_);
    AppendRecord(d, records);
    saved["in_flight_queue"] = in_flight_queue_;
    saved["in_flight_until"] = in_flight_until_;
  }
  json queues = json::array();
  for (auto& q : queues_) {
    for (const auto& d : q.memory) AppendRecord(d, records);
    json j = {{"released", q.released}, {"memory_documents", q.memory.size()}, {"generation", q.generation}};
    if (q.spilled()) {
      if (::fdatasync(q.fd) != 0) return Status::IOError("cannot sync " + q.file + ": " + std::strerror(errno));
      j["spill"] = {{"file", q.file}, {"read", q.read}, {"end", q.end}, {"documents", q.spilled_documents}};
    }
    queues.push_back(j);
  }
  saved["queues"] = queues;
  return saved;
}

std::vector<std::string> Interleaver::TakeDrainedFiles() {
  std::vector<std::string> out;
  out.swap(drained_);
  return out;
}

std::vector<std::string> Interleaver::FilesOf(const json& saved) {
  std::vector<std::string> files;
  for (const auto& q : saved.value("queues", json::array()))
    if (q.contains("spill")) files.push_back(q["spill"].value("file", ""));
  return files;
}

Status Interleaver::Restore(const json& saved, std::string_view records) {
  const json& queues = saved.at("queues");
  if (queues.size() != queues_.size()) return Status::Corruption("the checkpoint's interleaver has another queue count");
  size_t pos = 0;
  has_in_flight_ = saved.at("in_flight").get<bool>();
  if (has_in_flight_) {
    if (!ParseRecord(records, &pos, &in_flight_)) return Status::Corruption("the checkpoint's queued documents are cut short");
    in_flight_queue_ = saved.at("in_flight_queue");
    in_flight_until_ = saved.at("in_flight_until");
    if (in_flight_queue_ >= queues_.size() || in_flight_until_ > in_flight_.take || in_flight_.emitted > in_flight_until_) {
      return Status::Corruption("the checkpoint's document in flight does not fit");
    }
  }
  for (size_t i = 0; i < queues_.size(); ++i) {
    Queue& q = queues_[i];
    const json& j = queues[i];
    q.released = j.at("released");
    q.generation = j.at("generation");
    for (uint64_t k = j.at("memory_documents").get<uint64_t>(); k > 0; --k) {
      QueuedDocument d;
      if (!ParseRecord(records, &pos, &d)) return Status::Corruption("the checkpoint's queued documents are cut short");
      q.memory_tokens += d.tokens.size();
      memory_tokens_ += d.tokens.size();
      q.memory.push_back(std::move(d));
    }
    if (!j.contains("spill")) continue;
    const json& s = j["spill"];
    q.file = s.at("file");
    if (!q.file.starts_with(kSpillFilePrefix) || q.file.find('/') != std::string::npos) {
      return Status::Corruption("the checkpoint names no valid spill file");
    }
    q.read = s.at("read");
    q.end = s.at("end");
    q.spilled_documents = s.at("documents");
    std::string path = (fs::path(dir_) / q.file).string();
    q.fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    std::error_code ec;
    if (q.fd < 0 || fs::file_size(path, ec) < q.end || ec) {
      return Status::Corruption(path + " is missing or shorter than the checkpoint records");
    }
    // What was appended after the checkpoint is appended again.
    if (::ftruncate(q.fd, static_cast<off_t>(q.end)) != 0 || ::lseek(q.fd, 0, SEEK_END) < 0) {
      return Status::IOError("cannot truncate " + path + ": " + std::strerror(errno));
    }
  }
  if (pos != records.size()) return Status::Corruption("the checkpoint's queued documents have trailing bytes");
  return Status::Ok();
}

void Interleaver::RemoveFiles() {
  std::error_code ec;
  for (auto& q : queues_) {
    if (q.fd >= 0) ::close(q.fd);
    q.fd = -1;
    if (!q.file.empty()) fs::remove(fs::path(dir_) / q.file, ec);
  }
  for (const auto& f : drained_) fs::remove(fs::path(dir_) / f, ec);
  drained_.clear();
}

}  // namespace lcde
