#include "cli/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <iomanip>
#include <optional>

#include "cli/flags.h"
#include "crypto/base64.h"
#include "crypto/details.h"
#include "crypto/key_file.h"
#include "crypto/keyring.h"
#include "proxy/config/details.h"
#include "proxy/config/keyring_file.h"

namespace cosmoseal::cli {
namespace {

constexpr char kKeygenUsage[] =
    "usage: cosmoseal keygen --keyring FILE (--kek-file FILE | --kek-env VAR) --key NAME\n"
    "\n"
    "Adds a new version of data key NAME (64 random bytes, wrapped with the KEK) to the keyring\n"
    "and makes it primary: new values are sealed with it, older versions still decrypt.\n"
    "Creates the keyring if it does not exist, and the KEK file (32 random bytes, mode 0600)\n"
    "if neither it nor the keyring exists. Prints what it did; never prints key material.\n"
    "\n"
    "  --keyring FILE   keyring YAML file (docs/FORMAT.md section 7)\n"
    "  --kek-file FILE  key-encryption key file (base64 of 32 bytes)\n"
    "  --kek-env VAR    read the KEK from environment variable VAR instead\n"
    "  --key NAME       key name (letters, digits, '.', '_', '-'), e.g. pii\n"
    "  -h, --help       this text\n";

constexpr char kShowUsage[] =
    "usage: cosmoseal keyring show --keyring FILE [--kek-file FILE | --kek-env VAR]\n"
    "\n"
    "Loads the keyring (unwrapping every key with the KEK) and lists key names, versions, ids,\n"
    "which version is primary (randomized values) and which one deterministic values use.\n"
    "Never prints key material. Exits 1 if the keyring does not load. The KEK may be omitted\n"
    "only for development keyrings with raw material.\n"
    "\n"
    "  --keyring FILE   keyring YAML file\n"
    "  --kek-file FILE  key-encryption key file (base64 of 32 bytes)\n"
    "  --kek-env VAR    read the KEK from environment variable VAR instead\n"
    "  -h, --help       this text\n";

constexpr FlagSpec kKeygenFlags[] = {
    {.name = "--keyring"}, {.name = "--kek-file"}, {.name = "--kek-env"}, {.name = "--key"}};
constexpr FlagSpec kShowFlags[] = {
    {.name = "--keyring"}, {.name = "--kek-file"}, {.name = "--kek-env"}};
// Key files are named once, and never by an empty word.
constexpr FlagRules kKeyFlagRules = {.unique = true, .non_empty = true};

int usageError(std::ostream& err, const std::string& what, const char* usage) {
  err << "cosmoseal: " << what << "\n\n" << usage;
  return kExitUsage;
}

int failure(std::ostream& err, const common::Status& s) {
  err << "cosmoseal: " << s.message() << " [" << s.detail() << "]\n";
  return kExitFailure;
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string rfc3339(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Creates a new KEK file (O_EXCL: never overwrites, never follows a symlink), mode 0600.
common::StatusOr<common::SecretBytes> createKekFile(const std::string& path,
                                                    crypto::RandomSource& rng) {
  common::SecretBytes kek(crypto::kKekSize);
  if (!rng.fill(kek.mutableView())) {
    return common::internalError(crypto::crypto_detail::kRngFailed, "the random generator failed");
  }
  // The base64 text is key material too: build it in SecretBytes.
  const size_t text_len = crypto::base64EncodedSize(kek.size());
  common::SecretBytes text(text_len + 1);
  crypto::base64EncodeTo(kek.data(), kek.size(), reinterpret_cast<char*>(text.data()));
  text.data()[text_len] = '\n';

  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return common::failedPrecondition(
        proxy::config_detail::kWriteFailed,
        "cannot create KEK file " + path + ": " + std::strerror(errno));
  }
  bool ok = ::fchmod(fd, 0600) == 0;
  size_t done = 0;
  while (ok && done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) ok = false;
    if (w > 0) done += static_cast<size_t>(w);
  }
  ok = ok && ::fsync(fd) == 0;
  const int err = errno;
  ok = (::close(fd) == 0) && ok;
  if (!ok) {
    ::unlink(path.c_str());
    return common::failedPrecondition(proxy::config_detail::kWriteFailed,
                                      "cannot write KEK file " + path + ": " + std::strerror(err));
  }
  return kek;
}

}  // namespace

int runKeygen(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
              crypto::RandomSource& rng, const common::Clock& clock) {
  const ParsedFlags f = parseFlags(args, kKeygenFlags, kKeyFlagRules);
  if (!f.ok()) return usageError(err, f.problemText(), kKeygenUsage);
  if (f.help()) {
    out << kKeygenUsage;
    return kExitOk;
  }
  const std::string keyring_path = f.value("--keyring"), kek_file = f.value("--kek-file"),
                    kek_env = f.value("--kek-env"), name = f.value("--key");
  if (keyring_path.empty()) return usageError(err, "--keyring FILE is required", kKeygenUsage);
  if (name.empty()) return usageError(err, "--key NAME is required", kKeygenUsage);
  if (kek_file.empty() == kek_env.empty()) {
    return usageError(err, "give exactly one of --kek-file FILE and --kek-env VAR", kKeygenUsage);
  }
  if (!crypto::isValidKeyName(name)) {
    return usageError(err,
                      "key name '" + name +
                          "' is invalid: use 1-64 letters, digits, '.', '_' or '-', starting "
                          "with a letter or digit",
                      kKeygenUsage);
  }

  const bool keyring_exists = exists(keyring_path);

  // 1. The KEK.
  common::SecretBytes kek;
  if (!kek_file.empty() && !exists(kek_file)) {
    if (keyring_exists) {
      return failure(
          err, common::failedPrecondition(crypto::crypto_detail::kFileMissing,
                                          "KEK file " + kek_file + " does not exist, but keyring " +
                                              keyring_path +
                                              " does: a new KEK could not unwrap its keys. "
                                              "Restore the KEK file (or pass --kek-env)"));
    }
    auto created = createKekFile(kek_file, rng);
    if (!created.isOk()) return failure(err, created.status());
    kek = std::move(created).value();
    out << "created KEK file " << kek_file
        << " (32 random bytes, mode 0600); back it up: without it the keyring cannot be opened\n";
  } else {
    auto loaded = proxy::loadKek(kek_file, kek_env);
    if (!loaded.isOk()) return failure(err, loaded.status());
    kek = std::move(loaded).value();
  }

  // 2. The keyring.
  crypto::KeyringBuilder builder;
  std::string older;  // "1, 2" : the versions of NAME already in the keyring
  if (keyring_exists) {
    auto ring = proxy::loadKeyringFile(keyring_path, &kek);
    if (!ring.isOk()) return failure(err, ring.status());
    builder = crypto::KeyringBuilder::from(**ring);
    for (const auto& v : (*ring)->versions()) {
      if (v.name == name) older += (older.empty() ? "" : ", ") + std::to_string(v.version);
    }
  }
  const uint32_t previous = builder.maxVersion(name);
  const uint32_t version = previous + 1;
  if (version == 0) {
    return failure(err, common::failedPrecondition(crypto::crypto_detail::kBadVersion,
                                                   "key '" + name + "' has no version left"));
  }
  uint32_t id = 0;
  for (int attempt = 0; attempt < 64 && id == 0; ++attempt) {
    uint8_t b[4];
    if (!rng.fill(b)) {
      return failure(err, common::internalError(crypto::crypto_detail::kRngFailed,
                                                "the random generator failed"));
    }
    const uint32_t candidate =
        (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
    if (candidate != 0 && !builder.hasId(candidate)) id = candidate;
  }
  if (id == 0) {
    return failure(err, common::internalError(crypto::crypto_detail::kRngFailed,
                                              "could not draw an unused key id"));
  }
  common::SecretBytes dek(crypto::kDekSize);
  if (!rng.fill(dek.mutableView())) {
    return failure(err, common::internalError(crypto::crypto_detail::kRngFailed,
                                              "the random generator failed"));
  }
  common::Status s = builder.add(name, version, id, std::move(dek), rfc3339(clock.unixSeconds()));
  if (s.isOk()) s = builder.setPrimary(name, version);
  if (!s.isOk()) return failure(err, s);
  auto ring = builder.build();
  if (!ring.isOk()) return failure(err, ring.status());

  // 3. Write it.
  s = proxy::saveKeyringFile(keyring_path, **ring, kek, rng);
  if (!s.isOk()) return failure(err, s);

  if (!keyring_exists) out << "created keyring " << keyring_path << " (mode 0600)\n";
  out << "added key '" << name << "' version " << version << " (id " << crypto::formatKeyId(id)
      << ") to " << keyring_path << "; it is now the primary version of '" << name << "'\n";
  if (!older.empty()) {
    out << "older version(s) " << older << " of '" << name
        << "' stay in the keyring and still decrypt; reload (SIGHUP) or restart cosmoseal so "
           "new randomized values use version "
        << version << "\n";
    if (const crypto::KeyVersion* det = (*ring)->deterministic(name)) {
      out << "deterministic values of '" << name << "' stay on version " << det->version
          << " (the keyring's `deterministic:`), so equality queries and partition keys keep "
             "matching; see docs/OPERATIONS.md to move them\n";
    }
  }
  return kExitOk;
}

int runKeyringShow(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  const ParsedFlags f = parseFlags(args, kShowFlags, kKeyFlagRules);
  if (!f.ok()) return usageError(err, f.problemText(), kShowUsage);
  if (f.help()) {
    out << kShowUsage;
    return kExitOk;
  }
  const std::string keyring_path = f.value("--keyring"), kek_file = f.value("--kek-file"),
                    kek_env = f.value("--kek-env");
  if (keyring_path.empty()) return usageError(err, "--keyring FILE is required", kShowUsage);
  if (!kek_file.empty() && !kek_env.empty()) {
    return usageError(err, "give at most one of --kek-file FILE and --kek-env VAR", kShowUsage);
  }
  std::optional<common::SecretBytes> kek;
  if (!kek_file.empty() || !kek_env.empty()) {
    auto loaded = proxy::loadKek(kek_file, kek_env);
    if (!loaded.isOk()) return failure(err, loaded.status());
    kek = std::move(loaded).value();
  }
  auto ring = proxy::loadKeyringFile(keyring_path, kek ? &*kek : nullptr);
  if (!ring.isOk()) return failure(err, ring.status());

  const auto list = (*ring)->list();
  out << "keyring " << keyring_path << ": " << (*ring)->names().size() << " key(s), " << list.size()
      << " version(s)\n";
  if (list.empty()) return kExitOk;
  size_t name_width = 4;
  for (const auto& k : list) name_width = std::max(name_width, k.name.size());
  out << std::left << std::setw(static_cast<int>(name_width) + 2) << "NAME" << std::setw(9)
      << "VERSION" << std::setw(10) << "ID" << std::setw(9) << "PRIMARY" << std::setw(15)
      << "DETERMINISTIC"
      << "CREATED\n";
  for (const auto& k : list) {
    out << std::left << std::setw(static_cast<int>(name_width) + 2) << k.name << std::setw(9)
        << k.version << std::setw(10) << crypto::formatKeyId(k.id) << std::setw(9)
        << (k.primary ? "yes" : "") << std::setw(15) << (k.deterministic ? "yes" : "") << k.created
        << "\n";
  }
  return kExitOk;
}

int runKeygen(const Args& args, std::ostream& out, std::ostream& err) {
  return runKeygen(args, out, err, crypto::systemRandom(), common::systemClock());
}

}  // namespace cosmoseal::cli
