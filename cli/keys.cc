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
#include "crypto/kek.h"
#include "crypto/key_file.h"
#include "crypto/keyring.h"
#include "crypto/pkcs11_kek.h"
#include "proxy/config/details.h"
#include "proxy/config/keyring_file.h"

namespace cosmoseal::cli {
namespace {

constexpr char kKeygenUsage[] =
    "usage: cosmoseal keygen --keyring FILE (--kek-file FILE | --kek-env VAR | --kek SPEC |\n"
    "                        --config FILE) --key NAME\n"
    "\n"
    "Adds a new version of data key NAME (64 random bytes, wrapped with the KEK) to the keyring\n"
    "and makes it primary: new values are sealed with it, older versions still decrypt.\n"
    "Creates the keyring if it does not exist, and the KEK file (32 random bytes, mode 0600)\n"
    "if neither it nor the keyring exists. Prints what it did; never prints key material.\n"
    "\n"
    "  --keyring FILE   keyring YAML file (docs/FORMAT.md section 7)\n"
    "  --kek-file FILE  key-encryption key file (base64 of 32 bytes)\n"
    "  --kek-env VAR    read the KEK from environment variable VAR instead\n"
    "  --kek SPEC       any KEK provider: file:PATH, env:VAR, or\n"
    "                   pkcs11:module=PATH;token=LABEL;key=LABEL;pin-file=PATH (slot=N instead\n"
    "                   of token=; optional mechanism=auto|aes_gcm|aes_key_wrap_pad), or\n"
    "                   azure_key_vault:vault=URL;key=NAME (optional version=V, alg=RSA-OAEP-256|\n"
    "                   RSA-OAEP|A256KW, ca-file=PATH, auth=workload_identity|managed_identity|\n"
    "                   client_secret|client_certificate with tenant=, client=, authority=,\n"
    "                   scope=, token-file=, secret-file=, certificate-file=, endpoint=; unset\n"
    "                   ones come from AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_AUTHORITY_HOST,\n"
    "                   AZURE_FEDERATED_TOKEN_FILE as for upstream.auth)\n"
    "                   kmip:server=HOST:PORT;key=NAME;ca=PATH;cert=PATH;key-file=PATH\n"
    "                   (key-id=UID instead of key=; a KMIP key manager, mutual TLS)\n"
    "  --config FILE    take the KEK from the `keys` section of a cosmoseal config\n"
    "  --key NAME       key name (letters, digits, '.', '_', '-'), e.g. pii\n"
    "  -h, --help       this text\n";

constexpr char kShowUsage[] =
    "usage: cosmoseal keyring show --keyring FILE [--kek-file FILE | --kek-env VAR | --kek SPEC |\n"
    "                              --config FILE]\n"
    "\n"
    "Loads the keyring (unwrapping every key with the KEK) and lists key names, versions, ids,\n"
    "which version is primary (randomized values) and which one deterministic values use,\n"
    "and which KEK opened it. Never prints key material. Exits 1 if the keyring does not load.\n"
    "The KEK may be omitted only for development keyrings with raw material.\n"
    "\n"
    "  --keyring FILE   keyring YAML file\n"
    "  --kek-file FILE  key-encryption key file (base64 of 32 bytes)\n"
    "  --kek-env VAR    read the KEK from environment variable VAR instead\n"
    "  --kek SPEC       any KEK provider (see cosmoseal keygen --help)\n"
    "  --config FILE    take the KEK from the `keys` section of a cosmoseal config\n"
    "  -h, --help       this text\n";

constexpr char kRewrapUsage[] =
    "usage: cosmoseal keyring rewrap --keyring FILE --from SPEC --to SPEC\n"
    "\n"
    "Moves the keyring to another KEK (file -> HSM, HSM -> a new HSM key, ...): every data key\n"
    "is unwrapped with --from and wrapped again with --to; the data keys, their ids and every\n"
    "document stay as they are. The new file is checked (every key unwrapped with --to and\n"
    "compared) before it replaces the old one atomically. The old file is kept as\n"
    "FILE.pre-rewrap-<UTC time> (0600, never overwritten): it still opens with the old KEK, so\n"
    "delete it once the sidecars run on the new KEK if the old KEK is to be retired.\n"
    "\n"
    "  --keyring FILE   keyring YAML file\n"
    "  --from SPEC      the KEK the keyring is wrapped with now\n"
    "  --to SPEC        the KEK to wrap it with\n"
    "                   SPEC: file:PATH | env:VAR | config:FILE (its keys section) |\n"
    "                   pkcs11:module=PATH;token=LABEL;key=LABEL;pin-file=PATH[;slot=N]\n"
    "                   [;mechanism=auto|aes_gcm|aes_key_wrap_pad] |\n"
    "                   azure_key_vault:vault=URL;key=NAME[;version=V][;auth=...] (see\n"
    "                   cosmoseal keygen --help); --from and --to may name two versions of the\n"
    "                   same vault key: rewrap then moves every entry to --to's version\n"
    "                   kmip:server=HOST:PORT;key=NAME;ca=PATH;cert=PATH;key-file=PATH\n"
    "  -h, --help       this text\n";

constexpr char kRetireUsage[] =
    "usage: cosmoseal keyring retire --keyring FILE (--kek-file FILE | --kek-env VAR |\n"
    "                                --kek SPEC | --config FILE) --key NAME --version N\n"
    "\n"
    "Removes version N of data key NAME from the keyring. Values sealed with it can no longer\n"
    "be decrypted: re-encrypt them first (docs/OPERATIONS.md). Refuses the primary version and\n"
    "the version deterministic values use. The keyring is rewritten atomically.\n"
    "\n"
    "  --keyring FILE   keyring YAML file\n"
    "  --kek-file, --kek-env, --kek, --config   the KEK, as for cosmoseal keygen\n"
    "  --key NAME       key name\n"
    "  --version N      the version to remove\n"
    "  -h, --help       this text\n";

constexpr char kCreateKekUsage[] =
    "usage: cosmoseal keyring create-kek --kek pkcs11:... | --config FILE\n"
    "\n"
    "Generates the KEK inside a PKCS#11 token: an AES-256 key with the given label, sensitive\n"
    "and not extractable (the token never reveals it), allowed to encrypt, decrypt, wrap and\n"
    "unwrap. Refuses if a key with that label exists. Meant for SoftHSM2 and test tokens;\n"
    "production HSMs usually create keys with their own tools. Then: cosmoseal keygen or\n"
    "cosmoseal keyring rewrap --to the same SPEC.\n"
    "\n"
    "  --kek SPEC       pkcs11:module=PATH;token=LABEL;key=LABEL;pin-file=PATH\n"
    "  --config FILE    take the KEK from the `keys` section of a cosmoseal config\n"
    "  -h, --help       this text\n";

constexpr FlagSpec kKeygenFlags[] = {{.name = "--keyring"}, {.name = "--kek-file"},
                                     {.name = "--kek-env"}, {.name = "--kek"},
                                     {.name = "--config"},  {.name = "--key"}};
constexpr FlagSpec kShowFlags[] = {{.name = "--keyring"},
                                   {.name = "--kek-file"},
                                   {.name = "--kek-env"},
                                   {.name = "--kek"},
                                   {.name = "--config"}};
constexpr FlagSpec kRewrapFlags[] = {{.name = "--keyring"}, {.name = "--from"}, {.name = "--to"}};
constexpr FlagSpec kRetireFlags[] = {
    {.name = "--keyring"}, {.name = "--kek-file"}, {.name = "--kek-env"}, {.name = "--kek"},
    {.name = "--config"},  {.name = "--key"},      {.name = "--version"}};
constexpr FlagSpec kCreateKekFlags[] = {{.name = "--kek"}, {.name = "--config"}};
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

// The keys section of a cosmoseal config: its KEK.
common::StatusOr<crypto::KekSpec> kekSpecFromConfig(const std::string& path) {
  auto cfg = proxy::loadConfigFile(path);
  if (!cfg.isOk()) return cfg.status();
  if (!cfg->keys) {
    return common::failedPrecondition(crypto::crypto_detail::kKekConfig,
                                      path + " has no keys section to take the KEK from");
  }
  return proxy::kekSpecOf(*cfg->keys);
}

// --from / --to: "config:FILE" or a provider spec (crypto::parseKekSpec).
common::StatusOr<crypto::KekSpec> kekSpecFromText(const std::string& text) {
  if (text.rfind("config:", 0) == 0) return kekSpecFromConfig(text.substr(7));
  return crypto::parseKekSpec(text);
}

// How many of the KEK flags were given (they are exclusive).
int kekFlagCount(const ParsedFlags& f) {
  int n = 0;
  for (const char* name : {"--kek-file", "--kek-env", "--kek", "--config"}) {
    n += f.value(name).empty() ? 0 : 1;
  }
  return n;
}

// The one KEK flag given, as a spec.
common::StatusOr<crypto::KekSpec> kekSpecFromFlags(const ParsedFlags& f) {
  crypto::KekSpec spec;
  if (!f.value("--kek-file").empty()) {
    spec.kind = crypto::KekKind::kFile;
    spec.file = f.value("--kek-file");
    return spec;
  }
  if (!f.value("--kek-env").empty()) {
    spec.kind = crypto::KekKind::kEnv;
    spec.env = f.value("--kek-env");
    return spec;
  }
  if (!f.value("--config").empty()) return kekSpecFromConfig(f.value("--config"));
  return kekSpecFromText(f.value("--kek"));
}

constexpr char kOneKek[] =
    "give exactly one of --kek-file FILE, --kek-env VAR, --kek SPEC and --config FILE";

// Copies `path` to `backup` (O_EXCL, 0600): never overwrites, never follows a symlink.
common::Status copyToBackup(const std::string& path, const std::string& backup) {
  const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) {
    return common::failedPrecondition(proxy::config_detail::kWriteFailed,
                                      "cannot read " + path + ": " + std::strerror(errno));
  }
  const int out =
      ::open(backup.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (out < 0) {
    const int err = errno;
    ::close(in);
    return common::failedPrecondition(proxy::config_detail::kWriteFailed,
                                      "cannot create backup " + backup + ": " + std::strerror(err));
  }
  bool ok = true;
  char buf[8192];
  for (;;) {
    const ssize_t r = ::read(in, buf, sizeof(buf));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) ok = false;
    if (r <= 0) break;
    for (ssize_t done = 0; ok && done < r;) {
      const ssize_t w = ::write(out, buf + done, static_cast<size_t>(r - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) ok = false;
      if (w > 0) done += w;
    }
    if (!ok) break;
  }
  ok = ::fsync(out) == 0 && ok;
  ok = ::close(out) == 0 && ok;
  ::close(in);
  if (!ok) {
    ::unlink(backup.c_str());
    return common::failedPrecondition(proxy::config_detail::kWriteFailed,
                                      "cannot write backup " + backup);
  }
  return common::Status::ok();
}

std::string compactUtc(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

// FILE.pre-rewrap-<UTC>; when an earlier rewrap of the same second left that name, the first
// free one of <UTC>-2, <UTC>-3, ... (copyToBackup still creates it exclusively).
std::string backupName(const std::string& keyring_path, int64_t unix_seconds) {
  const std::string base = keyring_path + ".pre-rewrap-" + compactUtc(unix_seconds);
  std::string name = base;
  struct stat st {};
  for (int n = 2; n <= 1000 && ::lstat(name.c_str(), &st) == 0; ++n) {
    name = base + "-" + std::to_string(n);
  }
  return name;
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
  const std::string keyring_path = f.value("--keyring"), name = f.value("--key");
  if (keyring_path.empty()) return usageError(err, "--keyring FILE is required", kKeygenUsage);
  if (name.empty()) return usageError(err, "--key NAME is required", kKeygenUsage);
  if (kekFlagCount(f) != 1) return usageError(err, kOneKek, kKeygenUsage);
  if (!crypto::isValidKeyName(name)) {
    return usageError(err,
                      "key name '" + name +
                          "' is invalid: use 1-64 letters, digits, '.', '_' or '-', starting "
                          "with a letter or digit",
                      kKeygenUsage);
  }

  const bool keyring_exists = exists(keyring_path);

  // 1. The KEK.
  auto spec = kekSpecFromFlags(f);
  if (!spec.isOk()) return failure(err, spec.status());
  std::unique_ptr<crypto::KekProvider> kek;
  if (spec->kind == crypto::KekKind::kFile && !exists(spec->file)) {
    const std::string& kek_file = spec->file;
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
    kek = crypto::localKek(std::move(created).value(), "KEK file " + kek_file);
    out << "created KEK file " << kek_file
        << " (32 random bytes, mode 0600); back it up: without it the keyring cannot be opened\n";
  } else {
    auto opened = proxy::openKekSpec(*spec);
    if (!opened.isOk()) return failure(err, opened.status());
    kek = std::move(opened).value();
  }

  // 2. The keyring.
  crypto::KeyringBuilder builder;
  std::string older;  // "1, 2" : the versions of NAME already in the keyring
  if (keyring_exists) {
    auto ring = proxy::loadKeyringFile(keyring_path, kek.get());
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
  s = proxy::saveKeyringFile(keyring_path, **ring, *kek, rng);
  if (!s.isOk()) return failure(err, s);
  if (spec->kind == crypto::KekKind::kPkcs11 || spec->kind == crypto::KekKind::kKmip)
    out << "wrapped by " << kek->describe() << "\n";
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
  const std::string keyring_path = f.value("--keyring");
  if (keyring_path.empty()) return usageError(err, "--keyring FILE is required", kShowUsage);
  if (kekFlagCount(f) > 1) {
    return usageError(err,
                      "give at most one of --kek-file FILE, --kek-env VAR, --kek SPEC and "
                      "--config FILE",
                      kShowUsage);
  }
  std::unique_ptr<crypto::KekProvider> kek;
  if (kekFlagCount(f) == 1) {
    auto spec = kekSpecFromFlags(f);
    if (!spec.isOk()) return failure(err, spec.status());
    auto opened = proxy::openKekSpec(*spec);
    if (!opened.isOk()) return failure(err, opened.status());
    kek = std::move(opened).value();
  }
  auto ring = proxy::loadKeyringFile(keyring_path, kek.get());
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
  if (kek) out << "KEK: " << kek->describe() << "\n";
  return kExitOk;
}

int runKeyringRewrap(const Args& args, std::ostream& out, std::ostream& err,
                     crypto::RandomSource& rng, const common::Clock& clock) {
  const ParsedFlags f = parseFlags(args, kRewrapFlags, kKeyFlagRules);
  if (!f.ok()) return usageError(err, f.problemText(), kRewrapUsage);
  if (f.help()) {
    out << kRewrapUsage;
    return kExitOk;
  }
  const std::string keyring_path = f.value("--keyring");
  if (keyring_path.empty()) return usageError(err, "--keyring FILE is required", kRewrapUsage);
  if (f.value("--from").empty() || f.value("--to").empty()) {
    return usageError(err, "--from SPEC and --to SPEC are required", kRewrapUsage);
  }
  auto from_spec = kekSpecFromText(f.value("--from"));
  if (!from_spec.isOk()) return failure(err, from_spec.status());
  auto to_spec = kekSpecFromText(f.value("--to"));
  if (!to_spec.isOk()) return failure(err, to_spec.status());

  // 1. Everything unwraps with the old KEK.
  auto from = proxy::openKekSpec(*from_spec);
  if (!from.isOk()) return failure(err, from.status());
  auto ring = proxy::loadKeyringFile(keyring_path, from->get());
  if (!ring.isOk()) return failure(err, ring.status());
  // 2. The new KEK, which must be another one.
  auto to = proxy::openKekSpec(*to_spec);
  if (!to.isOk()) return failure(err, to.status());
  if ((*to)->id() == (*from)->id()) {
    return failure(err, common::failedPrecondition(crypto::crypto_detail::kKekConfig,
                                                   "--from and --to are the same KEK (" +
                                                       (*to)->id() + "); nothing to rewrap"));
  }
  auto text = proxy::renderKeyring(**ring, **to, rng);
  if (!text.isOk()) return failure(err, text.status());
  // 3. The new text opens with the new KEK and holds the same keys, before anything is written.
  auto check = proxy::parseKeyringText(*text, keyring_path + " (rewrapped)", to->get());
  if (!check.isOk()) return failure(err, check.status());
  const auto& a = (*ring)->versions();
  const auto& b = (*check)->versions();
  bool same = a.size() == b.size();
  for (size_t i = 0; same && i < a.size(); ++i) {
    same = a[i].id == b[i].id && a[i].material.constantTimeEquals(b[i].material);
  }
  if (!same) {
    return failure(err, common::internalError(crypto::crypto_detail::kWrapFailed,
                                              "the rewrapped keyring does not hold the same keys; "
                                              "nothing was written"));
  }
  // 4. Backup, then the atomic replace.
  const std::string backup = backupName(keyring_path, clock.unixSeconds());
  common::Status s = copyToBackup(keyring_path, backup);
  if (s.isOk()) s = proxy::saveKeyringText(keyring_path, *text);
  if (!s.isOk()) return failure(err, s);
  out << "rewrapped " << a.size() << " data key version(s) of " << keyring_path << "\n"
      << "  from " << (*from)->describe() << "\n"
      << "  to   " << (*to)->describe() << "\n"
      << "documents are untouched (the data keys did not change); the previous file is kept as "
      << backup << " (it still opens with the old KEK: delete it once every sidecar runs on the "
      << "new KEK). Point keys.kek at the new KEK and reload or restart cosmoseal.\n";
  return kExitOk;
}

int runKeyringRetire(const Args& args, std::ostream& out, std::ostream& err,
                     crypto::RandomSource& rng) {
  const ParsedFlags f = parseFlags(args, kRetireFlags, kKeyFlagRules);
  if (!f.ok()) return usageError(err, f.problemText(), kRetireUsage);
  if (f.help()) {
    out << kRetireUsage;
    return kExitOk;
  }
  const std::string keyring_path = f.value("--keyring"), name = f.value("--key");
  if (keyring_path.empty()) return usageError(err, "--keyring FILE is required", kRetireUsage);
  if (name.empty()) return usageError(err, "--key NAME is required", kRetireUsage);
  if (kekFlagCount(f) != 1) return usageError(err, kOneKek, kRetireUsage);
  uint32_t version = 0;
  {
    const std::string v = f.value("--version");
    uint64_t x = 0;
    bool ok = !v.empty() && v.size() <= 10;
    for (char c : v) ok = ok && c >= '0' && c <= '9';
    if (ok) x = std::stoull(v);
    if (!ok || x == 0 || x > 0xffffffffull) {
      return usageError(err, "--version N is required (a version number >= 1)", kRetireUsage);
    }
    version = static_cast<uint32_t>(x);
  }
  auto spec = kekSpecFromFlags(f);
  if (!spec.isOk()) return failure(err, spec.status());
  auto kek = proxy::openKekSpec(*spec);
  if (!kek.isOk()) return failure(err, kek.status());
  auto ring = proxy::loadKeyringFile(keyring_path, kek->get());
  if (!ring.isOk()) return failure(err, ring.status());
  const crypto::KeyVersion* target = (*ring)->find(name, version);
  if (target == nullptr) {
    return failure(err,
                   common::failedPrecondition(crypto::crypto_detail::kUnknownVersion,
                                              "key '" + name + "' has no version " +
                                                  std::to_string(version) + " in " + keyring_path));
  }
  if (target->primary || target->deterministic) {
    return failure(
        err, common::failedPrecondition(
                 crypto::crypto_detail::kBadVersion,
                 "key '" + name + "' version " + std::to_string(version) + " is the " +
                     (target->primary ? "primary" : "deterministic") +
                     " version; it cannot be retired (add a new version with cosmoseal keygen "
                     "first, and for deterministic values re-encrypt and move `deterministic:`)"));
  }
  crypto::KeyringBuilder builder;
  common::Status s;
  for (const auto& v : (*ring)->versions()) {
    if (v.name == name && v.version == version) continue;
    if (s.isOk()) s = builder.add(v.name, v.version, v.id, v.material.clone(), v.created);
  }
  for (const auto& n : (*ring)->names()) {
    if (s.isOk()) s = builder.setPrimary(n, (*ring)->primary(n)->version);
    if (s.isOk()) s = builder.setDeterministic(n, (*ring)->deterministic(n)->version);
  }
  if (!s.isOk()) return failure(err, s);
  auto rebuilt = builder.build();
  if (!rebuilt.isOk()) return failure(err, rebuilt.status());
  s = proxy::saveKeyringFile(keyring_path, **rebuilt, **kek, rng);
  if (!s.isOk()) return failure(err, s);
  out << "retired key '" << name << "' version " << version << " (id "
      << crypto::formatKeyId(target->id) << ") from " << keyring_path
      << "; values sealed with it no longer decrypt once cosmoseal reloads\n";
  return kExitOk;
}

int runKeyringCreateKek(const Args& args, std::ostream& out, std::ostream& err) {
  const ParsedFlags f = parseFlags(args, kCreateKekFlags, kKeyFlagRules);
  if (!f.ok()) return usageError(err, f.problemText(), kCreateKekUsage);
  if (f.help()) {
    out << kCreateKekUsage;
    return kExitOk;
  }
  if (kekFlagCount(f) != 1) {
    return usageError(err, "give exactly one of --kek SPEC and --config FILE", kCreateKekUsage);
  }
  auto spec = kekSpecFromFlags(f);
  if (!spec.isOk()) return failure(err, spec.status());
  if (spec->kind != crypto::KekKind::kPkcs11) {
    return usageError(err,
                      "create-kek makes keys in PKCS#11 tokens; a KEK file is created by "
                      "cosmoseal keygen --kek-file",
                      kCreateKekUsage);
  }
  common::Status s = crypto::createPkcs11Kek(spec->pkcs11);
  if (!s.isOk()) return failure(err, s);
  auto kek = proxy::openKekSpec(*spec);
  if (!kek.isOk()) return failure(err, kek.status());
  out << "created " << (*kek)->describe() << "\n";
  return kExitOk;
}

int runKeyringRewrap(const Args& args, std::ostream& out, std::ostream& err) {
  return runKeyringRewrap(args, out, err, crypto::systemRandom(), common::systemClock());
}

int runKeyringRetire(const Args& args, std::ostream& out, std::ostream& err) {
  return runKeyringRetire(args, out, err, crypto::systemRandom());
}

int runKeygen(const Args& args, std::ostream& out, std::ostream& err) {
  return runKeygen(args, out, err, crypto::systemRandom(), common::systemClock());
}

}  // namespace cosmoseal::cli
