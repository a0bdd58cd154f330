#include "proxy/config/keyring_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "common/log.h"
#include "crypto/base64.h"
#include "crypto/details.h"
#include "crypto/kek.h"
#include "crypto/key_file.h"
#include "proxy/config/details.h"
#include "proxy/identity/key_vault_kek.h"

namespace cosmoseal::proxy {
namespace {

using common::Status;
using common::StatusOr;

constexpr size_t kMaxKeyringFileBytes = 1 << 20;

Status fail(std::string_view detail, std::string message) {
  return common::failedPrecondition(detail, std::move(message));
}

// Collects every problem of one file; the first problem's detail code becomes the Status's.
class Problems {
 public:
  explicit Problems(std::string file) : file_(std::move(file)) {}

  std::string where(const YAML::Mark& mark) const {
    if (mark.line < 0) return file_;
    return file_ + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
  }
  void add(std::string_view detail, const YAML::Mark& mark, const std::string& what) {
    ++count_;
    if (detail_.empty()) detail_ = std::string(detail);
    if (!message_.empty()) message_ += "\n";
    message_ += where(mark) + ": " + what;
  }
  bool empty() const { return count_ == 0; }
  size_t count() const { return count_; }
  Status status() const { return fail(detail_, message_); }
  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::string detail_;
  std::string message_;
  size_t count_ = 0;
};

// Strict unsigned decimal: digits only, no sign, no leading zeros, fits in uint32_t.
bool parseU32(const std::string& s, uint32_t* out) {
  if (s.empty() || s.size() > 10 || (s.size() > 1 && s[0] == '0')) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > 0xffffffffull) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

// Checks that `node` is a map whose keys are all in `allowed`, each once. Returns the fields.
bool checkFields(const YAML::Node& node, std::initializer_list<std::string_view> allowed,
                 std::string_view what, Problems& p, std::map<std::string, YAML::Node>* fields) {
  if (!node.IsMap()) {
    p.add(config_detail::kBadKeyring, node.Mark(),
          std::string(what) + " must be a mapping; see docs/FORMAT.md §7 for the layout");
    return false;
  }
  bool ok = true;
  for (auto it = node.begin(); it != node.end(); ++it) {
    // yaml-cpp's iterator yields a temporary pair: copy the (cheap, shared) node handles.
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    if (!key.IsScalar()) {
      p.add(config_detail::kBadKeyring, key.Mark(), "field names must be plain words");
      ok = false;
      continue;
    }
    const std::string& name = key.Scalar();
    bool known = false;
    for (std::string_view a : allowed) known = known || a == name;
    if (!known) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      std::string message = "unknown field '";
      message.append(name).append("' in ").append(what).append("; expected one of: ").append(list);
      p.add(config_detail::kBadKeyring, key.Mark(), message);
      ok = false;
      continue;
    }
    if (!fields->emplace(name, value).second) {
      p.add(config_detail::kBadKeyring, key.Mark(),
            "field '" + name + "' appears twice in " + std::string(what) + "; keep one");
      ok = false;
    }
  }
  return ok;
}

// A scalar field; reports a missing or non-scalar one.
const YAML::Node* scalarField(const std::map<std::string, YAML::Node>& fields,
                              const std::string& name, const YAML::Node& parent,
                              std::string_view what, Problems& p) {
  const auto it = fields.find(name);
  if (it == fields.end()) {
    p.add(config_detail::kBadKeyring, parent.Mark(),
          std::string(what) + " has no '" + name + "'; add it (docs/FORMAT.md §7)");
    return nullptr;
  }
  if (!it->second.IsScalar()) {
    p.add(config_detail::kBadKeyring, it->second.Mark(),
          "'" + name + "' must be a single value, not a list or mapping");
    return nullptr;
  }
  return &it->second;
}

struct SeenId {
  std::string where;
  std::string owner;
};

// What parsing needs besides the text: the KEK and who is told about each unwrap.
struct ParseContext {
  crypto::KekProvider* kek = nullptr;
  const UnwrapObserver* observer = nullptr;
};

void parseVersion(const YAML::Node& vnode, const std::string& key_name, const ParseContext& ctx,
                  Problems& p, crypto::KeyringBuilder& builder, std::map<uint32_t, SeenId>& ids,
                  std::map<uint32_t, std::string>& versions) {
  std::map<std::string, YAML::Node> f;
  if (!checkFields(vnode, {"version", "id", "created", "kek", "wrapped", "raw"}, "a key version", p,
                   &f)) {
    return;
  }
  const std::string what = "version entry of key '" + key_name + "'";
  const YAML::Node* vn = scalarField(f, "version", vnode, what, p);
  const YAML::Node* idn = scalarField(f, "id", vnode, what, p);
  uint32_t version = 0, id = 0;
  bool ok = vn != nullptr && idn != nullptr;
  if (vn != nullptr && (!parseU32(vn->Scalar(), &version) || version == 0)) {
    p.add(config_detail::kBadKeyring, vn->Mark(),
          "version '" + vn->Scalar() + "' is not a whole number >= 1");
    ok = false;
  }
  if (idn != nullptr && (!crypto::parseKeyId(idn->Scalar(), &id) || id == 0)) {
    p.add(
        config_detail::kBadKeyring, idn->Mark(),
        "id '" + idn->Scalar() +
            "' is not 8 hex digits (other than 00000000); write it quoted, e.g. id: \"1a2b3c4d\"");
    ok = false;
  }
  std::string created;
  if (f.count("created") != 0) {
    const YAML::Node* cn = scalarField(f, "created", vnode, what, p);
    if (cn == nullptr) return;
    created = cn->Scalar();
  }
  std::string recorded_kek;  // who wrapped it (format 2); "" in format-1 files
  if (f.count("kek") != 0) {
    const YAML::Node* kn = scalarField(f, "kek", vnode, what, p);
    if (kn == nullptr) return;
    recorded_kek = kn->Scalar();
  }
  const bool has_wrapped = f.count("wrapped") != 0, has_raw = f.count("raw") != 0;
  if (has_wrapped == has_raw) {
    p.add(config_detail::kBadKeyring, vnode.Mark(),
          what + " needs exactly one of 'wrapped' (normal) or 'raw' (development only)");
    return;
  }
  const YAML::Node* mn = scalarField(f, has_wrapped ? "wrapped" : "raw", vnode, what, p);
  if (!ok || mn == nullptr) return;

  const std::string here = p.where(vnode.Mark());
  if (const auto v = versions.find(version); v != versions.end()) {
    p.add(crypto::crypto_detail::kDuplicateVersion, vn->Mark(),
          "key '" + key_name + "' has version " + std::to_string(version) + " twice (also at " +
              v->second + "); give each version its own number");
    return;
  }
  versions.emplace(version, p.where(vn->Mark()));
  const std::string owner = "key '" + key_name + "' version " + std::to_string(version);
  if (const auto s = ids.find(id); s != ids.end()) {
    p.add(crypto::crypto_detail::kDuplicateId, idn->Mark(),
          "id " + crypto::formatKeyId(id) + " of " + owner + " is already used by " +
              s->second.owner + " (" + s->second.where +
              "); ids must be unique across the "
              "keyring (cosmoseal keygen picks unique ids)");
    return;
  }
  ids.emplace(id, SeenId{p.where(idn->Mark()), owner});

  common::SecretBytes material;
  if (has_wrapped) {
    if (ctx.kek == nullptr) {
      p.add(config_detail::kKekRequired, mn->Mark(),
            owner +
                " is wrapped, but no KEK was given; set keys.kek, keys.kek_file or keys.kek_env "
                "(CLI: --kek, --kek-file or --kek-env)");
      return;
    }
    if (!recorded_kek.empty() && !ctx.kek->recognizes(recorded_kek)) {
      const common::Status refused =
          fail(crypto::crypto_detail::kUnwrapFailed,
               owner + " was wrapped by KEK " + recorded_kek + ", but the KEK given is " +
                   ctx.kek->id() + " (" + ctx.kek->describe() +
                   "); give the KEK it was wrapped with, or move it with cosmoseal keyring rewrap");
      if (ctx.observer != nullptr && *ctx.observer) {
        (*ctx.observer)(crypto::WrapEntry{key_name, version, id}, ctx.kek->id(), refused);
      }
      p.add(refused.detail(), mn->Mark(), std::string(refused.message()));
      return;
    }
    auto wrapped = crypto::base64Decode(mn->Scalar());
    if (!wrapped.isOk()) {
      p.add(crypto::crypto_detail::kBadWrapped, mn->Mark(),
            "wrapped material of " + owner + " is not valid base64; restore the file from backup");
      return;
    }
    auto dek = ctx.kek->unwrap(crypto::WrapEntry{key_name, version, id}, *wrapped);
    if (ctx.observer != nullptr && *ctx.observer) {
      // The key that unwrapped: the recorded one (a vault key's older version may differ).
      (*ctx.observer)(crypto::WrapEntry{key_name, version, id},
                      recorded_kek.empty() ? ctx.kek->id() : recorded_kek, dek.status());
    }
    if (!dek.isOk()) {
      p.add(dek.status().detail(), mn->Mark(),
            std::string(dek.status().message()) +
                "; check that the KEK is the one this keyring was written with");
      return;
    }
    material = std::move(dek).value();
  } else {
    auto raw = crypto::decodeKeyText(mn->Scalar());
    if (!raw.isOk() || raw->size() != crypto::kDekSize) {
      p.add(config_detail::kBadKeyring, mn->Mark(),
            "raw material of " + owner + " must be base64 of " + std::to_string(crypto::kDekSize) +
                " bytes; better: use cosmoseal keygen");
      return;
    }
    COSMOSEAL_LOG(kWarn) << here << ": " << owner
                         << " uses raw (unwrapped) key material: development only; production "
                            "keyrings are written by cosmoseal keygen with a KEK";
    material = std::move(raw).value();
  }
  const Status added = builder.add(key_name, version, id, std::move(material), created);
  if (!added.isOk()) p.add(added.detail(), vnode.Mark(), std::string(added.message()));
}

void parseKey(const YAML::Node& knode, const ParseContext& ctx, Problems& p,
              crypto::KeyringBuilder& builder, std::map<uint32_t, SeenId>& ids,
              std::map<std::string, std::string>& names) {
  std::map<std::string, YAML::Node> f;
  if (!checkFields(knode, {"name", "primary", "deterministic", "versions"}, "a key entry", p, &f)) {
    return;
  }
  const YAML::Node* nn = scalarField(f, "name", knode, "key entry", p);
  if (nn == nullptr) return;
  const std::string name = nn->Scalar();
  if (!crypto::isValidKeyName(name)) {
    p.add(config_detail::kBadKeyring, nn->Mark(),
          "key name '" + name +
              "' is invalid; use 1-64 letters, digits, '.', '_' or '-', "
              "starting with a letter or digit");
    return;
  }
  if (const auto n = names.find(name); n != names.end()) {
    p.add(config_detail::kDuplicateName, nn->Mark(),
          "key '" + name + "' is defined twice (also at " + n->second +
              "); list all its versions under one entry");
    return;
  }
  names.emplace(name, p.where(nn->Mark()));
  const std::string what = "key '" + name + "'";
  const YAML::Node* pn = scalarField(f, "primary", knode, what, p);
  uint32_t primary = 0;
  if (pn != nullptr && !parseU32(pn->Scalar(), &primary)) {
    p.add(config_detail::kBadKeyring, pn->Mark(),
          "primary '" + pn->Scalar() + "' is not a version number");
    pn = nullptr;
  }
  const auto vit = f.find("versions");
  if (vit == f.end() || !vit->second.IsSequence() || vit->second.size() == 0) {
    p.add(config_detail::kBadKeyring, vit == f.end() ? knode.Mark() : vit->second.Mark(),
          what + " needs 'versions': a non-empty list of {version, id, wrapped}");
    return;
  }
  std::map<uint32_t, std::string> versions;
  const size_t problems_before = p.count();
  for (const auto& v : vit->second) parseVersion(v, name, ctx, p, builder, ids, versions);
  // A version that failed (already reported) is missing from `versions`: checking the primary
  // against them would only add a misleading second error.
  if (pn == nullptr || p.count() != problems_before) return;
  if (versions.count(primary) == 0) {
    p.add(crypto::crypto_detail::kMissingPrimary, pn->Mark(),
          what + " names primary version " + std::to_string(primary) +
              ", which is not among its versions; set primary to an existing version");
    return;
  }
  const Status s = builder.setPrimary(name, primary);
  if (!s.isOk()) p.add(s.detail(), pn->Mark(), std::string(s.message()));
  // Optional: the version deterministic values are sealed with (default: the lowest).
  if (const auto dit = f.find("deterministic"); dit != f.end()) {
    uint32_t det = 0;
    if (!dit->second.IsScalar() || !parseU32(dit->second.Scalar(), &det)) {
      p.add(config_detail::kBadKeyring, dit->second.Mark(),
            "deterministic is not a version number");
    } else if (versions.count(det) == 0) {
      p.add(crypto::crypto_detail::kUnknownVersion, dit->second.Mark(),
            what + " names deterministic version " + std::to_string(det) +
                ", which is not among its versions");
    } else {
      const Status d = builder.setDeterministic(name, det);
      if (!d.isOk()) p.add(d.detail(), dit->second.Mark(), std::string(d.message()));
    }
  }
}

// YAML double-quoted scalar for values we wrote ourselves (names, ids, base64, timestamps);
// escapes '"' and '\\' anyway so any `created` text survives a round trip.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

StatusOr<std::shared_ptr<const crypto::Keyring>> parseKeyringText(std::string_view text,
                                                                  const std::string& name,
                                                                  crypto::KekProvider* kek,
                                                                  const UnwrapObserver& observer) {
  const ParseContext ctx{kek, &observer};
  Problems p(name);
  crypto::KeyringBuilder builder;
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    std::map<std::string, YAML::Node> f;
    if (!root.IsDefined() || root.IsNull()) {
      p.add(config_detail::kBadKeyring, YAML::Mark(),
            "the keyring is empty; expected 'version: 1' and 'keys:' (docs/FORMAT.md §7)");
      return p.status();
    }
    if (!checkFields(root, {"version", "keys"}, "the keyring", p, &f)) return p.status();
    const YAML::Node* vn = scalarField(f, "version", root, "the keyring", p);
    if (vn != nullptr && vn->Scalar() != "1" && vn->Scalar() != "2") {
      p.add(config_detail::kBadKeyring, vn->Mark(),
            "keyring format version '" + vn->Scalar() +
                "' is not supported; this cosmoseal reads versions 1 and 2");
      return p.status();
    }
    const auto kit = f.find("keys");
    if (kit == f.end() || !(kit->second.IsSequence() || kit->second.IsNull())) {
      p.add(config_detail::kBadKeyring, kit == f.end() ? root.Mark() : kit->second.Mark(),
            "'keys' must be a list of key entries ({name, primary, versions})");
      return p.status();
    }
    std::map<uint32_t, SeenId> ids;
    std::map<std::string, std::string> names;
    if (kit->second.IsSequence()) {
      for (const auto& k : kit->second) parseKey(k, ctx, p, builder, ids, names);
    }
  } catch (const YAML::Exception& e) {
    p.add(config_detail::kBadKeyring, e.mark, "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    p.add(config_detail::kBadKeyring, YAML::Mark::null_mark(),
          std::string("cannot parse: ") + e.what());
  }
  if (!p.empty()) return p.status();
  auto ring = builder.build();
  if (!ring.isOk())
    return fail(ring.status().detail(), name + ": " + std::string(ring.status().message()));
  return ring;
}

StatusOr<std::shared_ptr<const crypto::Keyring>> parseKeyringText(std::string_view text,
                                                                  const std::string& name,
                                                                  const common::SecretBytes* kek) {
  std::unique_ptr<crypto::KekProvider> provider;
  if (kek != nullptr) provider = crypto::localKek(kek->clone(), "KEK");
  return parseKeyringText(text, name, provider.get(), {});
}

StatusOr<std::shared_ptr<const crypto::Keyring>> loadKeyringFile(const std::string& path,
                                                                 const common::SecretBytes* kek) {
  std::unique_ptr<crypto::KekProvider> provider;
  if (kek != nullptr) provider = crypto::localKek(kek->clone(), "KEK");
  return loadKeyringFile(path, provider.get(), {});
}

StatusOr<std::shared_ptr<const crypto::Keyring>> loadKeyringFile(const std::string& path,
                                                                 crypto::KekProvider* kek,
                                                                 const UnwrapObserver& observer) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) {
      return fail(crypto::crypto_detail::kFileMissing,
                  "keyring file " + path + " does not exist; create it with cosmoseal keygen");
    }
    return fail(crypto::crypto_detail::kFileUnreadable,
                "cannot open keyring file " + path + ": " + std::strerror(err));
  }
  std::string text;
  struct stat st {};
  Status problem;
  if (::fstat(fd, &st) != 0) {
    problem = fail(crypto::crypto_detail::kFileUnreadable, "cannot stat keyring file " + path);
  } else if (!S_ISREG(st.st_mode)) {
    problem = fail(crypto::crypto_detail::kFileUnreadable,
                   "keyring file " + path + " is not a regular file");
  } else if (std::string why = crypto::secretFilePermissionProblem(path, st); !why.empty()) {
    problem = fail(crypto::crypto_detail::kFilePermissions, "keyring file " + why);
  } else if (static_cast<size_t>(st.st_size) > kMaxKeyringFileBytes) {
    problem = fail(crypto::crypto_detail::kFileUnreadable,
                   "keyring file " + path + " is larger than 1 MiB");
  } else {
    text.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < text.size()) {
      const ssize_t r = ::read(fd, text.data() + got, text.size() - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    if (got != text.size()) {
      problem = fail(crypto::crypto_detail::kFileUnreadable, "cannot read keyring file " + path);
    }
  }
  ::close(fd);
  if (!problem.isOk()) return problem;
  return parseKeyringText(text, path, kek, observer);
}

StatusOr<std::string> renderKeyring(const crypto::Keyring& keyring, const common::SecretBytes& kek,
                                    crypto::RandomSource& rng) {
  auto provider = crypto::localKek(kek.clone(), "KEK");
  return renderKeyring(keyring, *provider, rng);
}

StatusOr<std::string> renderKeyring(const crypto::Keyring& keyring, crypto::KekProvider& kek,
                                    crypto::RandomSource& rng) {
  std::string out =
      "# cosmoseal keyring (docs/FORMAT.md section 7). Written by `cosmoseal keygen`.\n"
      "# Data keys are wrapped with the KEK named by 'kek'; do not edit 'wrapped' values.\n"
      "# Keep this file 0600.\n"
      "version: 2\n";
  const auto& versions = keyring.versions();
  if (versions.empty()) {
    out += "keys: []\n";
    return out;
  }
  out += "keys:\n";
  std::string current;
  for (const auto& v : versions) {
    if (v.name != current) {
      current = v.name;
      out += "  - name: " + quoted(v.name) + "\n";
      out += "    primary: " + std::to_string(keyring.primary(v.name)->version) + "\n";
      // Written explicitly so that adding a version never changes it silently.
      out += "    deterministic: " + std::to_string(keyring.deterministic(v.name)->version) + "\n";
      out += "    versions:\n";
    }
    COSMOSEAL_ASSIGN_OR_RETURN(
        const std::string wrapped,
        kek.wrap(crypto::WrapEntry{v.name, v.version, v.id}, v.material, rng));
    out += "      - version: " + std::to_string(v.version) + "\n";
    out += "        id: " + quoted(crypto::formatKeyId(v.id)) + "\n";
    if (!v.created.empty()) out += "        created: " + quoted(v.created) + "\n";
    out += "        kek: " + quoted(kek.id()) + "\n";
    out += "        wrapped: " + quoted(crypto::base64Encode(wrapped)) + "\n";
  }
  return out;
}

Status saveKeyringFile(const std::string& path, const crypto::Keyring& keyring,
                       const common::SecretBytes& kek, crypto::RandomSource& rng) {
  auto provider = crypto::localKek(kek.clone(), "KEK");
  return saveKeyringFile(path, keyring, *provider, rng);
}

Status saveKeyringFile(const std::string& path, const crypto::Keyring& keyring,
                       crypto::KekProvider& kek, crypto::RandomSource& rng) {
  COSMOSEAL_ASSIGN_OR_RETURN(const std::string text, renderKeyring(keyring, kek, rng));
  return saveKeyringText(path, text);
}

Status saveKeyringText(const std::string& path, const std::string& text) {
  const size_t slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = ::mkstemp(tmp.data());  // creates the file with mode 0600
  if (fd < 0) {
    return fail(config_detail::kWriteFailed,
                "cannot create a temporary file next to " + path + ": " + std::strerror(errno));
  }
  auto failWith = [&](const std::string& what) {
    const int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return fail(config_detail::kWriteFailed, what + " " + tmp + ": " + std::strerror(err));
  };
  if (::fchmod(fd, 0600) != 0) return failWith("cannot chmod");
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t w = ::write(fd, text.data() + done, text.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return failWith("cannot write");
    done += static_cast<size_t>(w);
  }
  if (::fsync(fd) != 0) return failWith("cannot fsync");
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(config_detail::kWriteFailed, "cannot close " + tmp + ": " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return fail(config_detail::kWriteFailed,
                "cannot rename " + tmp + " to " + path + ": " + std::strerror(err));
  }
  // Make the rename durable.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::ok();
}

StatusOr<common::SecretBytes> loadKek(const std::string& kek_file, const std::string& kek_env) {
  if (kek_file.empty() == kek_env.empty()) {
    return fail(config_detail::kKekConfig,
                "set exactly one of keys.kek_file and keys.kek_env (CLI: --kek-file or "
                "--kek-env) for the key-encryption key");
  }
  if (!kek_file.empty()) return crypto::readKeyFile(kek_file, crypto::kKekSize);
  return crypto::keyFromEnv(kek_env, crypto::kKekSize);
}

}  // namespace cosmoseal::proxy

namespace cosmoseal::proxy {

crypto::KekSpec kekSpecOf(const KeysConfig& keys) {
  if (keys.kek) return *keys.kek;
  crypto::KekSpec spec;
  if (!keys.kek_env.empty()) {
    spec.kind = crypto::KekKind::kEnv;
    spec.env = keys.kek_env;
  } else {
    spec.kind = crypto::KekKind::kFile;
    spec.file = keys.kek_file;
  }
  return spec;
}

StatusOr<std::unique_ptr<crypto::KekProvider>> openKekOf(const KeysConfig& keys) {
  if (!keys.kek && keys.kek_file.empty() == keys.kek_env.empty()) {
    return fail(config_detail::kKekConfig,
                "set exactly one of keys.kek, keys.kek_file and keys.kek_env for the "
                "key-encryption key");
  }
  return openKekSpec(kekSpecOf(keys));
}

StatusOr<std::unique_ptr<crypto::KekProvider>> openKekSpec(const crypto::KekSpec& spec) {
  if (spec.kind == crypto::KekKind::kAzureKeyVault) return identity::openKeyVaultKek(spec.azure);
  return crypto::openKek(spec);
}

}  // namespace cosmoseal::proxy
