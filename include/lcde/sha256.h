// SHA-256 (OpenSSL's EVP), for the checksums in manifests and checkpoints,
// the tokenizer model's identity and the tests' digests of ids.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "lcde/status.h"

struct evp_md_ctx_st;

namespace lcde {

// An incremental SHA-256.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(const void* data, size_t n);
  // Lowercase hex of the digest. REQUIRES: called once; kIOError when
  // OpenSSL failed (it cannot allocate).
  Result<std::string> HexDigest();

 private:
  evp_md_ctx_st* ctx_;
  bool ok_ = false;
};

// Lowercase hex SHA-256 of a file's bytes.
Result<std::string> Sha256File(const std::string& path);
// Lowercase hex SHA-256 of `bytes` ("" if OpenSSL fails).
std::string Sha256Hex(std::string_view bytes);

}  // namespace lcde
