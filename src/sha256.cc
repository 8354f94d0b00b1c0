#include "lcde/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace lcde {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1;
}

Sha256::~Sha256() { EVP_MD_CTX_free(ctx_); }

void Sha256::Update(const void* data, size_t n) {
  if (ok_ && n > 0) ok_ = EVP_DigestUpdate(ctx_, data, n) == 1;
}

Result<std::string> Sha256::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (!ok_ || EVP_DigestFinal_ex(ctx_, digest, &n) != 1) return Status::IOError("OpenSSL SHA-256 failed");
  ok_ = false;  // a context is final once
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (unsigned int i = 0; i < n; ++i) {
    out[2 * i] = kDigits[digest[i] >> 4];
    out[2 * i + 1] = kDigits[digest[i] & 0xf];
  }
  return out;
}

Result<std::string> Sha256File(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string msg = "open " + path + ": " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(msg) : Status::IOError(msg);
  }
  constexpr size_t kBuf = 1 << 20;
  std::unique_ptr<char[]> buf(new char[kBuf]);
  Sha256 sha;
  for (;;) {
    const ssize_t n = ::read(fd, buf.get(), kBuf);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string msg = "read " + path + ": " + std::strerror(errno);
      ::close(fd);
      return Status::IOError(msg);
    }
    if (n == 0) break;
    sha.Update(buf.get(), static_cast<size_t>(n));
  }
  ::close(fd);
  return sha.HexDigest();
}

std::string Sha256Hex(std::string_view bytes) {
  Sha256 sha;
  sha.Update(bytes.data(), bytes.size());
  Result<std::string> hex = sha.HexDigest();
  return hex.ok() ? hex.value() : std::string();
}

}  // namespace lcde
