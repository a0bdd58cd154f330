#include "crypto/key_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "crypto/base64.h"
#include "crypto/details.h"

namespace cosmoseal::crypto {
namespace {

constexpr size_t kMaxKeyFileBytes = 64 * 1024;

common::Status fail(std::string_view detail, std::string message) {
  return common::failedPrecondition(detail, std::move(message));
}

// Closes the descriptor on every path.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

common::StatusOr<common::SecretBytes> checkSize(common::SecretBytes key, size_t expected_size,
                                                std::string_view where) {
  if (expected_size != 0 && key.size() != expected_size) {
    return fail(crypto_detail::kWrongSize,
                std::string(where) + " holds a " + std::to_string(key.size()) +
                    "-byte key; expected " + std::to_string(expected_size) + " bytes (base64 of " +
                    std::to_string(expected_size) + " random bytes)");
  }
  return key;
}

}  // namespace

std::string formatMode(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", mode & 07777u);
  return buf;
}

std::string secretFilePermissionProblem(const std::string& path, const struct stat& st) {
  const unsigned mode = st.st_mode;
  const std::string what = path + " has mode " + formatMode(mode) + " (owner uid " +
                           std::to_string(st.st_uid) + ", group gid " + std::to_string(st.st_gid) +
                           ")";
  const std::string fix = "; run: chmod 600 " + path +
                          " (on Kubernetes, a root-owned 0440 Secret file whose group is the "
                          "pod's fsGroup is accepted)";
  if ((mode & (S_IROTH | S_IWOTH | S_IXOTH)) != 0) return what + ": other may access it" + fix;
  if ((mode & (S_IWGRP | S_IXGRP)) != 0) return what + ": group may write it" + fix;
  if ((mode & S_IRGRP) == 0) return "";
  bool in_group = st.st_gid == getgid() || st.st_gid == getegid();
  if (!in_group) {
    gid_t groups[256];
    const int n = getgroups(256, groups);
    for (int i = 0; i < n && !in_group; ++i) in_group = groups[i] == st.st_gid;
  }
  // A Secret volume with fsGroup: root-owned, read by a non-root service through its group.
  // (A process running as root gets no such exception: its files can be owner-only.)
  if (st.st_uid == 0 && geteuid() != 0 && in_group) return "";
  return what + ": group may read it" + fix;
}

common::StatusOr<common::SecretBytes> readKeyFile(const std::string& path, size_t expected_size) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (f.fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return fail(crypto_detail::kFileMissing, "key file " + path + " does not exist");
    }
    return fail(crypto_detail::kFileUnreadable,
                "cannot open key file " + path + ": " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) {
    return fail(crypto_detail::kFileUnreadable,
                "cannot stat key file " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return fail(crypto_detail::kFileUnreadable, "key file " + path + " is not a regular file");
  }
  if (std::string problem = secretFilePermissionProblem(path, st); !problem.empty()) {
    return fail(crypto_detail::kFilePermissions, "key file " + problem);
  }
  if (st.st_size <= 0) {
    return fail(crypto_detail::kBadKey, "key file " + path + " is empty");
  }
  if (static_cast<size_t>(st.st_size) > kMaxKeyFileBytes) {
    return fail(crypto_detail::kFileUnreadable, "key file " + path + " is larger than 64 KiB");
  }
  // Read into zeroizing memory; one byte of slack detects growth between fstat and read.
  common::SecretBytes text(static_cast<size_t>(st.st_size) + 1);
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t r = ::read(f.fd, text.data() + got, text.size() - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      return fail(crypto_detail::kFileUnreadable,
                  "cannot read key file " + path + ": " + std::strerror(errno));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  if (got > static_cast<size_t>(st.st_size)) {
    return fail(crypto_detail::kFileUnreadable, "key file " + path + " changed while being read");
  }
  auto key = decodeKeyText(std::string_view(reinterpret_cast<const char*>(text.data()), got));
  if (!key.isOk()) {
    return fail(key.status().detail(),
                "key file " + path + ": " + std::string(key.status().message()));
  }
  return checkSize(std::move(key).value(), expected_size, "key file " + path);
}

common::StatusOr<common::SecretBytes> keyFromEnv(const std::string& var, size_t expected_size) {
  const char* v = std::getenv(var.c_str());
  if (v == nullptr || v[0] == '\0') {
    return fail(crypto_detail::kEnvMissing, "environment variable " + var + " is not set or empty");
  }
  auto key = decodeKeyText(v);
  if (!key.isOk()) {
    return fail(key.status().detail(),
                "environment variable " + var + ": " + std::string(key.status().message()));
  }
  return checkSize(std::move(key).value(), expected_size, "environment variable " + var);
}

}  // namespace cosmoseal::crypto
