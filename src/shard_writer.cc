#include "lcde/shard_writer.h"

#include "lcde/sha256.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <condition_variable>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace lcde {

// Every on-disk integer is little-endian and we write them with memcpy, so a
// big-endian host would silently produce files no reader can open.
static_assert(std::endian::native == std::endian::little,
              "lcde writes shards by memcpy and needs a little-endian host");

// Segment records are memcpy'd straight to disk: pin the layout FORMAT.md documents.
static_assert(offsetof(Segment, chunk) == 0);
static_assert(offsetof(Segment, start) == 4);
static_assert(offsetof(Segment, length) == 8);
static_assert(offsetof(Segment, source) == 12);
static_assert(offsetof(Segment, document) == 16);
static_assert(offsetof(Segment, doc_offset) == 24);
static_assert(offsetof(Segment, doc_tokens) == 32);

namespace {

// Megatron-LM .idx layout, verified against NVIDIA/Megatron-LM
// megatron/core/datasets/indexed_dataset.py (commit 00caa53a):
//   _IndexWriter.__enter__ writes _INDEX_HEADER = b"MMIDIDX\x00\x00" (9 bytes),
//   struct.pack("<Q", 1) and struct.pack("<B", DType code);
//   _IndexWriter.write then writes "<Q" sequence_count = len(sequence_lengths),
//   "<Q" document_count = len(document_indices), int32 sequence_lengths,
//   int64 sequence_pointers (byte offsets into .bin, running sum of
//   length * itemsize) and int64 document_indices. IndexedDatasetBuilder
//   starts document_indices at [0] and appends len(sequence_lengths) at each
//   document end, so it has documents + 1 entries and IndexedDataset.__init__
//   asserts sequence_lengths.shape[0] == document_indices[-1]. The reader
//   starts the arrays at byte 34 (9 + 8 + 1 + 8 + 8), unaligned, via
//   numpy.frombuffer. DType codes: int32 = 4, uint16 = 8; optimal_dtype picks
//   uint16 when cardinality < 65500, which DtypeForVocab mirrors.
constexpr char kIdxMagic[9] = {'M', 'M', 'I', 'D', 'I', 'D', 'X', '\0', '\0'};
constexpr uint64_t kIdxVersion = 1;
constexpr size_t kIdxHeaderBytes = 34;

// Large enough that write(2) and SHA-256 calls are amortized over MiBs, small
// enough that one builder per worker thread stays cheap.
constexpr size_t kBinBufferBytes = 4 << 20;
constexpr size_t kSegBufferBytes = 256 << 10;
constexpr size_t kIdxBufferBytes = 1 << 20;

// GNU strerror_r returns char*, XSI returns int; both overloads keep this
// portable without relying on the non-thread-safe strerror().
[[maybe_unused]] std::string StrerrorResult(char* r, const char*) { return r; }
[[maybe_unused]] std::string StrerrorResult(int r, const char* buf) {
  return r == 0 ? std::string(buf) : std::string("unknown error");
}

std::string ErrnoText(int err) {
  char buf[256] = {0};
  return StrerrorResult(strerror_r(err, buf, sizeof(buf)), buf) + " (errno " +
         std::to_string(err) + ")";
}

Status ErrnoStatus(const std::string& op, const std::string& path, int err) {
  if (err == ENOENT) return Status::NotFound(op + " " + path + ": " + ErrnoText(err));
  return Status::IOError(op + " " + path + ": " + ErrnoText(err));
}

// Writes all of [data, data+n), retrying short writes and EINTR. A file-size
// limit shows up as a short write and then EFBIG (SIGXFSZ is ignored by the CLI).
Status WriteAll(int fd, const char* data, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path, errno);
    }
    if (w == 0) return ErrnoStatus("write", path, ENOSPC);  // never loop forever
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::Ok();
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", dir, errno);
  Status s;
  if (::fsync(fd) != 0) s = ErrnoStatus("fsync directory", dir, errno);
  ::close(fd);
  return s;
}

std::string ParentDir(const std::string& path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

// Hashes buffers on a thread of its own, in the order they are handed over,
// so that SHA-256 (about a third of the writer's time) overlaps with the
// conversion and the write of the next buffers. The caller takes a free
// buffer, fills it, and Submit()s it; the hasher returns it when done.
class BackgroundHasher {
 public:
  BackgroundHasher(size_t buffers, size_t capacity) {
    for (size_t i = 0; i < buffers; ++i) {
      storage_.emplace_back(new char[capacity]);
      free_.push_back(storage_.back().get());
    }
  }
  ~BackgroundHasher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  BackgroundHasher(const BackgroundHasher&) = delete;
  BackgroundHasher& operator=(const BackgroundHasher&) = delete;

  // A buffer no one reads; blocks while all are queued.
  char* TakeFree() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !free_.empty(); });
    char* b = free_.back();
    free_.pop_back();
    return b;
  }
  // Queues [data, data+n) for hashing. The caller may still read the buffer
  // (to write it) but not change it; it comes back through TakeFree().
  void Submit(char* data, size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!thread_.joinable()) {
      thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "lcde-hash");
        Loop();
      });
    }
    queue_.push_back({data, n});
    cv_.notify_all();
  }
  // The digest of everything submitted, once hashed.
  Result<std::string> HexDigest() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
    return sha_.HexDigest();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      const auto [data, n] = queue_.front();
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      sha_.Update(data, n);
      lock.lock();
      busy_ = false;
      free_.push_back(data);
      cv_.notify_all();
    }
  }

  Sha256 sha_;  // the hashing thread's while it runs
  std::vector<std::unique_ptr<char[]>> storage_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<char*> free_;
  std::deque<std::pair<char*, size_t>> queue_;
  bool busy_ = false, stop_ = false;
  std::thread thread_;
};

// An append-only file behind a user-space buffer, hashing bytes as they leave
// the buffer so the digest costs no second read of the file. With
// `background_hash` the hashing runs on a thread of its own (large files).
class BufferedFile {
 public:
  BufferedFile(std::string path, size_t capacity, bool background_hash = false) : path_(std::move(path)), cap_(capacity) {
    if (background_hash) {
      // Three buffers: one being filled, one being written while hashed,
      // one for the hasher to lag behind by.
      hasher_ = std::make_unique<BackgroundHasher>(3, capacity);
      buf_ = hasher_->TakeFree();
    } else {
      own_buf_.reset(new char[capacity]);
      buf_ = own_buf_.get();
    }
  }
  ~BufferedFile() { Close(); }
  BufferedFile(const BufferedFile&) = delete;
  BufferedFile& operator=(const BufferedFile&) = delete;

  Status Open() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return ErrnoStatus("create", path_, errno);
    return Status::Ok();
  }

  const std::string& path() const { return path_; }
  uint64_t bytes() const { return bytes_; }  // appended so far, flushed or not

  // Direct access to the free tail of the buffer for in-place conversion.
  size_t room() const { return cap_ - used_; }
  char* tail() { return buf_ + used_; }
  void Advance(size_t n) {
    used_ += n;
    bytes_ += n;
  }

  Status Append(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      if (room() == 0) LCDE_RETURN_IF_ERROR(Flush());
      size_t k = std::min(n, room());
      std::memcpy(tail(), p, k);
      Advance(k);
      p += k;
      n -= k;
    }
    return Status::Ok();
  }

  Status Flush() {
    if (used_ == 0) return Status::Ok();
    Status s;
    if (hasher_) {
      hasher_->Submit(buf_, used_);
      s = WriteAll(fd_, buf_, used_, path_);  // while the hasher reads it too
      buf_ = hasher_->TakeFree();
    } else {
      sha_.Update(buf_, used_);
      s = WriteAll(fd_, buf_, used_, path_);
    }
    used_ = 0;
    return s;
  }

  // Flushes, fsyncs and closes; the file is complete on disk after this.
  Status SyncAndClose() {
    LCDE_RETURN_IF_ERROR(Flush());
    if (::fsync(fd_) != 0) return ErrnoStatus("fsync", path_, errno);
    int fd = std::exchange(fd_, -1);
    // close() can report a deferred write error (e.g. NFS); it counts.
    if (::close(fd) != 0) return ErrnoStatus("close", path_, errno);
    return Status::Ok();
  }

  Result<std::string> HexDigest() { return hasher_ ? hasher_->HexDigest() : sha_.HexDigest(); }

  void Close() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  std::string path_;
  std::unique_ptr<BackgroundHasher> hasher_;  // null: hash on the caller's thread
  std::unique_ptr<char[]> own_buf_;
  char* buf_ = nullptr;
  size_t cap_;
  size_t used_ = 0;
  uint64_t bytes_ = 0;
  int fd_ = -1;
  Sha256 sha_;
};

template <typename T>
void PutLE(std::string* out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // host is little-endian (static_assert above)
  out->append(b, sizeof(T));
}

// The writer thread runs these over every token of the dataset, so they are
// written in blocks of 16 that the compiler turns into vector code at -O2
// (its cheap vectorizer takes only loops of a fixed trip count).
constexpr size_t kLanes = 16;

// Whether every id is in [0, max of dtype]: an id outside has a bit set
// that no valid id has (bit 31 for a negative, bits 16-31 above 65535).
bool AllIdsFit(std::span<const int32_t> ids, TokenDtype dtype) {
  const uint32_t forbidden = dtype == TokenDtype::kUint16 ? 0xffff0000u : 0x80000000u;
  uint32_t any = 0;
  size_t i = 0;
  for (; i + kLanes <= ids.size(); i += kLanes) {
    uint32_t block = 0;
    for (size_t u = 0; u < kLanes; ++u) block |= static_cast<uint32_t>(ids[i + u]);
    any |= block;
  }
  for (; i < ids.size(); ++i) any |= static_cast<uint32_t>(ids[i]);
  return (any & forbidden) == 0;
}

// ids[0, n) as little-endian uint16 at out. REQUIRES: AllIdsFit(uint16).
void NarrowToUint16(const int32_t* ids, size_t n, char* out) {
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    uint16_t block[kLanes];
    for (size_t u = 0; u < kLanes; ++u) block[u] = static_cast<uint16_t>(ids[i + u]);
    std::memcpy(out + 2 * i, block, sizeof(block));
  }
  for (; i < n; ++i) {
    const uint16_t v = static_cast<uint16_t>(ids[i]);
    std::memcpy(out + 2 * i, &v, 2);
  }
}

const char* DtypeName(TokenDtype d) { return d == TokenDtype::kUint16 ? "uint16" : "int32"; }

}  // namespace

TokenDtype DtypeForVocab(int vocab_size) {
  // Megatron's DType.optimal_dtype uses the same bound; the margin under
  // 65536 leaves room for a few special tokens added after the fact.
  return vocab_size < 65500 ? TokenDtype::kUint16 : TokenDtype::kInt32;
}

size_t DtypeBytes(TokenDtype dtype) { return dtype == TokenDtype::kUint16 ? 2 : 4; }

struct ShardBuilder::Rep {
  std::string dir, name;
  TokenDtype dtype;
  BufferedFile bin, seg;
  std::string idx_tmp;
  std::vector<int32_t> lengths;  // tokens per chunk, for the .idx
  uint64_t tokens = 0, segments = 0;
  bool done = false;  // Finish() or Abandon() ran; no more writes or unlinks
  Status failed;      // why the builder was abandoned, returned to late callers

  Rep(std::string d, std::string n, TokenDtype t)
      : dir(std::move(d)),
        name(std::move(n)),
        dtype(t),
        bin(Path(".bin.tmp"), kBinBufferBytes, /*background_hash=*/true),
        seg(Path(".seg.tmp"), kSegBufferBytes),
        idx_tmp(Path(".idx.tmp")) {}

  std::string Path(const char* suffix) const {
    return (std::filesystem::path(dir) / (name + suffix)).string();
  }
  std::string Where() const { return "shard " + Path(""); }
};

ShardBuilder::ShardBuilder(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}

ShardBuilder::~ShardBuilder() {
  if (rep_ && !rep_->done) Abandon();
}

Result<std::unique_ptr<ShardBuilder>> ShardBuilder::Create(const std::string& dir,
                                                          const std::string& name,
                                                          TokenDtype dtype) {
  if (dtype != TokenDtype::kUint16 && dtype != TokenDtype::kInt32) {
    return Status::Corruption("unknown token dtype code " +
                              std::to_string(static_cast<int>(dtype)));
  }
  if (name.empty() || name.find('/') != std::string::npos) {
    return Status::IOError("bad shard name '" + name + "' (must be a plain file name)");
  }
  std::unique_ptr<ShardBuilder> b(new ShardBuilder(std::make_unique<Rep>(dir, name, dtype)));
  Rep& r = *b->rep_;
  Status s = r.bin.Open();
  if (s.ok()) s = r.seg.Open();
  if (s.ok()) {
    char header[kSegHeaderBytes];
    const uint32_t version = kSegVersion, record = sizeof(Segment);
    std::memcpy(header, kSegMagic, 8);
    std::memcpy(header + 8, &version, 4);
    std::memcpy(header + 12, &record, 4);
    s = r.seg.Append(header, sizeof(header));
  }
  if (!s.ok()) {
    b->Abandon();
    return s;
  }
  return b;
}

uint64_t ShardBuilder::chunks() const { return rep_->lengths.size(); }

Status ShardBuilder::AddChunk(std::span<const int32_t> tokens,
                              std::span<const Segment> segments) {
  Rep& r = *rep_;
  if (r.done) {
    return r.failed.ok() ? Status::IOError(r.Where() + ": AddChunk after Finish/Abandon")
                         : r.failed;
  }
  const uint64_t chunk = r.lengths.size();
  const std::string where = r.Where() + " chunk " + std::to_string(chunk);

  // Validate everything before any byte is buffered, so a rejected chunk
  // leaves the builder exactly as it was. All checks are linear scans that
  // cost far less than the tokenization that produced the chunk.
  if (tokens.empty()) return Status::Corruption(where + ": empty chunk");
  if (tokens.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    // Megatron stores sequence lengths as int32.
    return Status::Corruption(where + ": " + std::to_string(tokens.size()) +
                              " tokens exceed the int32 sequence length of the .idx");
  }
  if (chunk >= std::numeric_limits<uint32_t>::max()) {
    return Status::Corruption(where + ": too many chunks for the u32 Segment.chunk field");
  }
  const int32_t limit = r.dtype == TokenDtype::kUint16 ? 65535 : std::numeric_limits<int32_t>::max();
  if (!AllIdsFit(tokens, r.dtype)) {
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i] < 0 || tokens[i] > limit) {
        return Status::Corruption(where + ": token id " + std::to_string(tokens[i]) + " at position " +
                                  std::to_string(i) + " does not fit " + DtypeName(r.dtype));
      }
    }
  }
  if (segments.empty()) return Status::Corruption(where + ": no segments");
  uint64_t next = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    const Segment& sg = segments[i];
    const std::string which = where + " segment " + std::to_string(i);
    if (sg.start != next) {
      return Status::Corruption(which + " starts at " + std::to_string(sg.start) +
                                ", expected " + std::to_string(next) +
                                " (segments must tile the chunk in order)");
    }
    if (sg.length == 0) return Status::Corruption(which + " is empty");
    if (sg.doc_offset > sg.doc_tokens || sg.length > sg.doc_tokens - sg.doc_offset) {
      return Status::Corruption(which + ": piece [" + std::to_string(sg.doc_offset) + ", +" +
                                std::to_string(sg.length) + ") lies outside its document of " +
                                std::to_string(sg.doc_tokens) + " tokens");
    }
    next += sg.length;
  }
  if (next != tokens.size()) {
    return Status::Corruption(where + ": segments cover " + std::to_string(next) + " of " +
                              std::to_string(tokens.size()) + " tokens");
  }

  // Convert in buffer-sized pieces so any chunk length works with a fixed buffer.
  Status s;
  const size_t width = DtypeBytes(r.dtype);
  for (size_t i = 0; i < tokens.size() && s.ok();) {
    size_t fit = r.bin.room() / width;
    if (fit == 0) {
      s = r.bin.Flush();
      continue;
    }
    size_t k = std::min(fit, tokens.size() - i);
    char* out = r.bin.tail();
    if (r.dtype == TokenDtype::kUint16) {
      NarrowToUint16(tokens.data() + i, k, out);
    } else {
      std::memcpy(out, tokens.data() + i, k * 4);
    }
    r.bin.Advance(k * width);
    i += k;
  }
  for (size_t i = 0; i < segments.size() && s.ok(); ++i) {
    Segment rec = segments[i];
    rec.chunk = static_cast<uint32_t>(chunk);
    s = r.seg.Append(&rec, sizeof(rec));
  }
  if (!s.ok()) {
    // Part of the chunk may be on disk; the shard cannot be completed.
    Abandon();
    r.failed = s;
    return s;
  }
  r.lengths.push_back(static_cast<int32_t>(tokens.size()));
  r.tokens += tokens.size();
  r.segments += segments.size();
  return Status::Ok();
}

Result<ShardInfo> ShardBuilder::Finish() {
  Rep& r = *rep_;
  if (r.done) {
    return r.failed.ok() ? Status::IOError(r.Where() + ": Finish after Finish/Abandon")
                         : r.failed;
  }
  const uint64_t n = r.lengths.size();

  // The index is small (20 bytes per chunk), so build it in memory.
  std::string idx;
  idx.reserve(kIdxHeaderBytes + n * (4 + 8 + 8) + 8);
  idx.append(kIdxMagic, sizeof(kIdxMagic));
  PutLE<uint64_t>(&idx, kIdxVersion);
  PutLE<uint8_t>(&idx, static_cast<uint8_t>(r.dtype));
  PutLE<uint64_t>(&idx, n);      // sequence_count: one sequence per chunk
  PutLE<uint64_t>(&idx, n + 1);  // document_count = len(document_indices)
  for (int32_t len : r.lengths) PutLE<int32_t>(&idx, len);
  int64_t pointer = 0;
  for (int32_t len : r.lengths) {
    PutLE<int64_t>(&idx, pointer);
    pointer += static_cast<int64_t>(len) * static_cast<int64_t>(DtypeBytes(r.dtype));
  }
  // Each chunk is its own Megatron document: document_indices = [0, 1, ..., n].
  for (uint64_t i = 0; i <= n; ++i) PutLE<int64_t>(&idx, static_cast<int64_t>(i));

  ShardInfo info;
  info.name = r.name;
  info.chunks = n;
  info.tokens = r.tokens;
  info.segments = r.segments;

  const std::string bin_final = r.Path(".bin"), seg_final = r.Path(".seg"),
                    idx_final = r.Path(".idx");
  std::vector<std::string> renamed;
  Status s = [&]() -> Status {
    BufferedFile idx_file(r.idx_tmp, kIdxBufferBytes);
    LCDE_RETURN_IF_ERROR(idx_file.Open());
    LCDE_RETURN_IF_ERROR(idx_file.Append(idx.data(), idx.size()));
    LCDE_RETURN_IF_ERROR(r.bin.SyncAndClose());
    LCDE_RETURN_IF_ERROR(r.seg.SyncAndClose());
    LCDE_RETURN_IF_ERROR(idx_file.SyncAndClose());
    info.bin_bytes = r.bin.bytes();
    info.seg_bytes = r.seg.bytes();
    info.idx_bytes = idx_file.bytes();
    for (auto [file, out] : {std::pair{&r.bin, &info.bin_sha256},
                             std::pair{&r.seg, &info.seg_sha256},
                             std::pair{&idx_file, &info.idx_sha256}}) {
      Result<std::string> hex = file->HexDigest();
      if (!hex.ok()) return hex.status();
      *out = std::move(hex).value();
    }
    // .idx goes last: Megatron opens a prefix by its .idx, so a reader that
    // sees it also sees the complete .bin.
    for (auto [from, to] : {std::pair{r.bin.path(), bin_final},
                            std::pair{r.seg.path(), seg_final},
                            std::pair{r.idx_tmp, idx_final}}) {
      if (::rename(from.c_str(), to.c_str()) != 0) {
        return ErrnoStatus("rename " + from + " to", to, errno);
      }
      renamed.push_back(to);
    }
    return FsyncDir(r.dir);
  }();
  if (!s.ok()) {
    // Nothing final may stay behind: a partial shard would look complete.
    for (const std::string& f : renamed) ::unlink(f.c_str());
    Abandon();
    r.failed = s;
    return s;
  }
  r.done = true;
  return info;
}

void ShardBuilder::Abandon() {
  Rep& r = *rep_;
  // Once finished or abandoned, the tmp names may belong to a newer builder
  // of the same shard; leave them alone.
  if (r.done) return;
  r.bin.Close();
  r.seg.Close();
  ::unlink(r.bin.path().c_str());
  ::unlink(r.seg.path().c_str());
  ::unlink(r.idx_tmp.c_str());
  r.done = true;
}

Status WriteFileAtomically(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("create", tmp, errno);
  Status s = WriteAll(fd, bytes.data(), bytes.size(), tmp);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("fsync", tmp, errno);
  if (::close(fd) != 0 && s.ok()) s = ErrnoStatus("close", tmp, errno);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = ErrnoStatus("rename " + tmp + " to", path, errno);
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return FsyncDir(ParentDir(path));
}

}  // namespace lcde

namespace lcde {

}  // namespace lcde

namespace lcde {

Result<SegHeader> DecodeSegHeader(std::string_view header, const std::string& path) {
  if (header.size() < kSegHeaderBytes || std::memcmp(header.data(), kSegMagic, sizeof(kSegMagic)) != 0) {
    return Status::Corruption(path + ": not an lcde segment file (bad magic)");
  }
  SegHeader h;
  std::memcpy(&h.version, header.data() + 8, 4);
  std::memcpy(&h.record_size, header.data() + 12, 4);
  return h;
}

}  // namespace lcde
