#include "crypto/kek.h"

#include <utility>
#include <vector>

#include "crypto/aead.h"
#include "crypto/details.h"
#include "crypto/key_file.h"
#include "crypto/keyring.h"
#include "crypto/kmip_kek.h"
#include "crypto/pkcs11_kek.h"

namespace cosmoseal::crypto {
namespace {

constexpr std::string_view kKekIdInfo = "cosmoseal/v1/kek-id";

common::Status configError(std::string message) {
  return common::failedPrecondition(crypto_detail::kKekConfig, std::move(message));
}

// The KEK's bytes in locked memory: AES-256-GCM in this process (keyring.h wrapKey/unwrapKey).
class LocalKek final : public KekProvider {
 public:
  LocalKek(common::SecretBytes kek, std::string source)
      : kek_(std::move(kek)), id_(localKekId(kek_)), source_(std::move(source)) {}

  const std::string& id() const noexcept override { return id_; }
  std::string describe() const override {
    return source_ + " (AES-256-GCM in process, KEK id " + id_ + ")";
  }
  common::StatusOr<std::string> wrap(const WrapEntry& e, const common::SecretBytes& dek,
                                     RandomSource& rng) override {
    return wrapKey(kek_, e.name, e.version, e.id, dek, rng);
  }
  common::StatusOr<common::SecretBytes> unwrap(const WrapEntry& e,
                                               std::string_view wrapped) override {
    return unwrapKey(kek_, e.name, e.version, e.id, wrapped);
  }

 private:
  common::SecretBytes kek_;
  std::string id_;
  std::string source_;
};

// "a=b;c=d" -> pairs; false on an empty or '='-less part.
bool splitParams(std::string_view text, std::vector<std::pair<std::string, std::string>>* out) {
  while (!text.empty()) {
    const size_t semi = text.find(';');
    const std::string_view part = text.substr(0, semi);
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    out->emplace_back(std::string(part.substr(0, eq)), std::string(part.substr(eq + 1)));
    if (semi == std::string_view::npos) break;
    text.remove_prefix(semi + 1);
  }
  return true;
}

bool parseU64(const std::string& s, uint64_t* v) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t x = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    x = x * 10 + static_cast<uint64_t>(c - '0');
  }
  *v = x;
  return true;
}

constexpr char kSpecForms[] =
    "expected file:PATH, env:VAR, "
    "pkcs11:module=PATH;token=LABEL;key=LABEL;pin-file=PATH (slot=N instead of token=, "
    "optional mechanism=auto|aes_gcm|aes_key_wrap_pad) or "
    "azure_key_vault:vault=URL;key=NAME (optional version=, alg=, ca-file=, auth=, tenant=, "
    "client=, authority=, scope=, token-file=, secret-file=, certificate-file=, endpoint=) or "
    "kmip:server=HOST:PORT;key=NAME;ca=PATH;cert=PATH;key-file=PATH (key-id=UID instead of key=)";

// Key Vault names: 1-127 of [0-9a-zA-Z-]; versions are 32 hex digits in Azure, any
// [0-9a-zA-Z-] here. Both go into a URL path.
bool vaultName(std::string_view s) {
  if (s.empty() || s.size() > 127) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
      return false;
  }
  return true;
}

}  // namespace

common::Status checkAzureKeyVaultKekSpec(const AzureKeyVaultKekSpec& spec) {
  const AzureKeyVaultKekSpec& a = spec;
  if (a.vault_url.rfind("https://", 0) != 0 || a.vault_url.size() <= 8) {
    return configError("azure_key_vault vault '" + a.vault_url +
                       "' must be an https:// URL, e.g. https://NAME.vault.azure.net");
  }
  if (a.vault_url.find_first_of("?#", 8) != std::string::npos) {
    return configError("azure_key_vault vault '" + a.vault_url + "' must have no query");
  }
  if (!vaultName(a.key_name)) {
    return configError("azure_key_vault key name '" + a.key_name +
                       "' must be 1-127 characters of 0-9, a-z, A-Z and '-'");
  }
  if (!a.key_version.empty() && !vaultName(a.key_version)) {
    return configError("azure_key_vault key version '" + a.key_version +
                       "' must be characters of 0-9, a-z, A-Z and '-'");
  }
  if (a.algorithm != "auto" && a.algorithm != "RSA-OAEP-256" && a.algorithm != "RSA-OAEP" &&
      a.algorithm != "A256KW") {
    return configError("azure_key_vault algorithm '" + a.algorithm +
                       "' is not one of auto, RSA-OAEP-256, RSA-OAEP, A256KW");
  }
  if (a.auth_type != "workload_identity" && a.auth_type != "managed_identity" &&
      a.auth_type != "client_secret" && a.auth_type != "client_certificate") {
    return configError("azure_key_vault auth '" + a.auth_type +
                       "' is not one of workload_identity, managed_identity, client_secret, "
                       "client_certificate");
  }
  return common::Status::ok();
}

namespace {

// The azure_key_vault spec's CLI parameters, in the order formatKekSpec writes them; a
// parameter holding its default value is left out of the text.
struct AzureParam {
  const char* name;
  std::string AzureKeyVaultKekSpec::*field;
  const char* default_value;
};
constexpr AzureParam kAzureParams[] = {
    {"vault", &AzureKeyVaultKekSpec::vault_url, nullptr},  // always written
    {"key", &AzureKeyVaultKekSpec::key_name, nullptr},     // always written
    {"alg", &AzureKeyVaultKekSpec::algorithm, "auto"},
    {"auth", &AzureKeyVaultKekSpec::auth_type, "workload_identity"},
    {"version", &AzureKeyVaultKekSpec::key_version, ""},
    {"ca-file", &AzureKeyVaultKekSpec::ca_file, ""},
    {"tenant", &AzureKeyVaultKekSpec::tenant_id, ""},
    {"client", &AzureKeyVaultKekSpec::client_id, ""},
    {"authority", &AzureKeyVaultKekSpec::authority_host, ""},
    {"scope", &AzureKeyVaultKekSpec::scope, ""},
    {"token-file", &AzureKeyVaultKekSpec::token_file, ""},
    {"secret-file", &AzureKeyVaultKekSpec::secret_file, ""},
    {"certificate-file", &AzureKeyVaultKekSpec::certificate_file, ""},
    {"endpoint", &AzureKeyVaultKekSpec::endpoint, ""}};

common::StatusOr<KekSpec> parseAzureKeyVault(std::string_view text, std::string_view rest) {
  KekSpec spec;
  spec.kind = KekKind::kAzureKeyVault;
  std::vector<std::pair<std::string, std::string>> params;
  if (!splitParams(rest, &params)) {
    return configError("KEK '" + std::string(text) + "' is not a list of name=value; " +
                       kSpecForms);
  }
  AzureKeyVaultKekSpec& a = spec.azure;
  for (auto& [name, value] : params) {
    const AzureParam* param = nullptr;
    for (const AzureParam& p : kAzureParams) {
      if (name == p.name) param = &p;
    }
    if (param == nullptr) {
      return configError("unknown azure_key_vault KEK parameter '" + name + "'; " + kSpecForms);
    }
    a.*(param->field) = value;
  }
  while (!a.vault_url.empty() && a.vault_url.back() == '/') a.vault_url.pop_back();
  COSMOSEAL_RETURN_IF_ERROR(checkAzureKeyVaultKekSpec(a));
  return spec;
}

}  // namespace

std::string localKekId(const common::SecretBytes& kek) {
  uint8_t fp[4] = {};
  if (!hkdfSha256(kek.view(), ByteSpan(),
                  ByteSpan(reinterpret_cast<const uint8_t*>(kKekIdInfo.data()), kKekIdInfo.size()),
                  std::span<uint8_t>(fp, sizeof(fp)))) {
    return "local:unknown";
  }
  const uint32_t v =
      (uint32_t{fp[0]} << 24) | (uint32_t{fp[1]} << 16) | (uint32_t{fp[2]} << 8) | fp[3];
  return "local:" + formatKeyId(v);
}

std::unique_ptr<KekProvider> localKek(common::SecretBytes kek, std::string source) {
  return std::make_unique<LocalKek>(std::move(kek), std::move(source));
}

common::StatusOr<KekSpec> parseKekSpec(std::string_view text) {
  KekSpec spec;
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    return configError("KEK '" + std::string(text) + "' has no provider; " + kSpecForms);
  }
  const std::string_view kind = text.substr(0, colon);
  const std::string_view rest = text.substr(colon + 1);
  if (kind == "file" || kind == "env") {
    if (rest.empty()) return configError("KEK '" + std::string(text) + "' is empty; " + kSpecForms);
    spec.kind = kind == "file" ? KekKind::kFile : KekKind::kEnv;
    (kind == "file" ? spec.file : spec.env) = std::string(rest);
    return spec;
  }
  if (kind == "azure_key_vault") return parseAzureKeyVault(text, rest);
  if (kind == "kmip") {
    spec.kind = KekKind::kKmip;
    std::vector<std::pair<std::string, std::string>> params;
    if (!splitParams(rest, &params)) {
      return configError("KEK '" + std::string(text) + "' is not a list of name=value; " +
                         kSpecForms);
    }
    KmipKekSpec& k = spec.kmip;
    for (auto& [name, value] : params) {
      std::string* field = name == "server"     ? &k.server
                           : name == "key"      ? &k.key_name
                           : name == "key-id"   ? &k.key_id
                           : name == "ca"       ? &k.ca_file
                           : name == "cert"     ? &k.cert_file
                           : name == "key-file" ? &k.key_file
                                                : nullptr;
      if (field == nullptr) {
        return configError("unknown kmip KEK parameter '" + name + "'; " + kSpecForms);
      }
      *field = value;
    }
    COSMOSEAL_RETURN_IF_ERROR(checkKmipKekSpec(k));
    return spec;
  }
  if (kind != "pkcs11") {
    return configError("unknown KEK provider '" + std::string(kind) + "'; " + kSpecForms);
  }
  spec.kind = KekKind::kPkcs11;
  std::vector<std::pair<std::string, std::string>> params;
  if (!splitParams(rest, &params)) {
    return configError("KEK '" + std::string(text) + "' is not a list of name=value; " +
                       kSpecForms);
  }
  Pkcs11KekSpec& p = spec.pkcs11;
  for (auto& [name, value] : params) {
    if (name == "module") {
      p.module = value;
    } else if (name == "token") {
      p.token_label = value;
    } else if (name == "slot") {
      uint64_t slot = 0;
      if (!parseU64(value, &slot))
        return configError("pkcs11 slot '" + value + "' is not a number");
      p.slot = slot;
    } else if (name == "key") {
      p.key_label = value;
    } else if (name == "pin-file") {
      p.pin_file = value;
    } else if (name == "mechanism") {
      p.mechanism = value;
    } else {
      return configError("unknown pkcs11 KEK parameter '" + name + "'; " + kSpecForms);
    }
  }
  COSMOSEAL_RETURN_IF_ERROR(checkPkcs11KekSpec(p));
  return spec;
}

std::string formatKekSpec(const KekSpec& spec) {
  switch (spec.kind) {
    case KekKind::kFile:
      return "file:" + spec.file;
    case KekKind::kEnv:
      return "env:" + spec.env;
    case KekKind::kPkcs11: {
      const Pkcs11KekSpec& p = spec.pkcs11;
      std::string s = "pkcs11:module=" + p.module;
      s += p.slot ? ";slot=" + std::to_string(*p.slot) : ";token=" + p.token_label;
      s += ";key=" + p.key_label + ";pin-file=" + p.pin_file;
      if (p.mechanism != "auto") s += ";mechanism=" + p.mechanism;
      return s;
    }
    case KekKind::kAzureKeyVault: {
      const AzureKeyVaultKekSpec& a = spec.azure;
      std::string s = "azure_key_vault:";
      for (const AzureParam& p : kAzureParams) {
        const std::string& v = a.*(p.field);
        if (p.default_value != nullptr && v == p.default_value) continue;
        if (s.back() != ':') s += ';';
        s.append(p.name).append("=").append(v);
      }
      return s;
    }
    case KekKind::kKmip: {
      const KmipKekSpec& k = spec.kmip;
      return "kmip:server=" + k.server +
             (k.key_id.empty() ? ";key=" + k.key_name : ";key-id=" + k.key_id) +
             ";ca=" + k.ca_file + ";cert=" + k.cert_file + ";key-file=" + k.key_file;
    }
  }
  return "?";
}

common::StatusOr<std::unique_ptr<KekProvider>> openKek(const KekSpec& spec) {
  switch (spec.kind) {
    case KekKind::kFile: {
      COSMOSEAL_ASSIGN_OR_RETURN(common::SecretBytes kek, readKeyFile(spec.file, kKekSize));
      return localKek(std::move(kek), "KEK file " + spec.file);
    }
    case KekKind::kEnv: {
      COSMOSEAL_ASSIGN_OR_RETURN(common::SecretBytes kek, keyFromEnv(spec.env, kKekSize));
      return localKek(std::move(kek), "KEK variable " + spec.env);
    }
    case KekKind::kPkcs11:
      return openPkcs11Kek(spec.pkcs11);
    case KekKind::kAzureKeyVault:
      return configError("the azure_key_vault KEK is opened by proxy::openKekSpec");
    case KekKind::kKmip:
      return openKmipKek(spec.kmip);
  }
  return configError("unknown KEK provider");
}

}  // namespace cosmoseal::crypto
