#pragma once

// The azure_key_vault KEK provider (crypto/kek.h AzureKeyVaultKekSpec): the KEK is a key in Azure
// Key Vault or Managed HSM and never leaves it. The vault wraps and unwraps over REST
// (api-version 7.4) with a Microsoft Entra ID token from the same token sources as upstream.auth
// (proxy/identity/token_source.h), over net::HttpsClient (verified TLS).
//
//   GET  {vault}/keys/{name}[/{version}]     once, when opened: the key's full kid and type
//   POST {kid}/wrapkey   {"alg", "value"}    wrap(): the vault wraps a fresh per-wrap key
//   POST {kid}/unwrapkey {"alg", "value"}    unwrap(): the vault unwraps it again
//
// The vault's algorithms (RSA-OAEP-256, RSA-OAEP, A256KW) take no associated data, so the data
// key itself never goes to the vault: wrap() draws a random 32-byte content key (CEK), seals the
// data key under it with AES-256-GCM whose AAD binds the keyring entry (crypto::keyWrapAad) and
// the envelope's header (algorithm, kid, wrapped CEK), and has the vault wrap the CEK. A wrapped
// key moved to another entry, or any altered byte, fails the tag: keys.unwrap_failed.
// Format 0x04 (docs/FORMAT.md §7):
//   0x04 | alg length (1) | alg | kid length (2, big-endian) | kid |
//   wrapped-CEK length (2, big-endian) | wrapped CEK | nonce (12) | ciphertext | tag (16)
//
// id() is the key's full kid with its version (https://V.vault.azure.net/keys/NAME/VERSION), so
// the keyring shows which version wrapped each entry. recognizes() accepts any version of the same
// key in the same vault: the vault still unwraps with an older (enabled) version after a rotation,
// and `cosmoseal keyring rewrap` moves the entries to the current one. A kid of another vault or
// key is never sent to (the token would go to a host the configuration does not name).
//
// Failing closed, detail codes (crypto/details.h): keys.kek_config (bad spec), keys.kek_unavailable
// (no token, the vault unreachable, 401/403/404/5xx: the vault's error code and message are in the
// message, never the token), keys.unwrap_failed (the vault refuses the value with 400, or the
// envelope's tag fails), keys.bad_wrapped (not a 0x04 envelope, or a kid this key does not own),
// keys.wrap_failed.
//
// Control plane only (startup, reload, CLI): blocks on the network. One thread at a time.

#include <memory>

#include "common/status.h"
#include "crypto/kek.h"

namespace cosmoseal::proxy::identity {

// Validates the spec, gets a token and looks the key up in the vault.
common::StatusOr<std::unique_ptr<crypto::KekProvider>> openKeyVaultKek(
    const crypto::AzureKeyVaultKekSpec& spec);

// The token scope of a vault URL: https://managedhsm.azure.net/.default for *.managedhsm.*
// hosts, else https://vault.azure.net/.default (what the Azure SDKs ask for).
std::string keyVaultScope(const std::string& vault_url);

}  // namespace cosmoseal::proxy::identity
