#pragma once

// The PKCS#11 KEK provider: the KEK is an AES key inside a token (an HSM, or SoftHSM2 for
// tests) that the token marks sensitive and non-extractable; cosmoseal asks the token to wrap
// and unwrap data keys and never holds the KEK's bytes.
//
// Design (docs/FORMAT.md §7, docs/SECURITY.md):
//   * The module is loaded with dlopen and initialised once per process (C_Initialize with
//     CKF_OS_LOCKING_OK); it stays loaded until exit (tokens keep per-process state).
//   * A provider opens one session on the token (by label, or by slot id), logs in as the user
//     with the PIN read from a file (0600; the PIN is held in SecretBytes only for C_Login), and
//     finds the one AES key with the label. The key must be CKA_SENSITIVE and not
//     CKA_EXTRACTABLE, or the provider refuses to start (the promise is that the KEK cannot be
//     read out of the token).
//   * Wrapping, by mechanism:
//       aes_gcm           C_Encrypt/C_Decrypt with CKM_AES_GCM, a fresh 96-bit IV from cosmoseal
//                         and the entry as AAD (keyWrapAad): 0x02 | IV | ciphertext | tag.
//       aes_key_wrap_pad  C_WrapKey/C_UnwrapKey with CKM_AES_KEY_WRAP_PAD (RFC 5649). The wrapped
//                         secret is DEK || SHA-256(AAD) (96 bytes), so the entry is bound here
//                         too: 0x03 | RFC 5649 output. Unwrapping makes a session object
//                         (never a token object), reads its value into SecretBytes, checks the
//                         binding and destroys the object.
//     The data key has to leave the token either way: the envelope is computed in this process.
//     What never leaves is the KEK.
//   * Closing the provider closes its session (the last session's close logs out).
//
// Errors: keys.kek_config (spec incomplete), keys.kek_unavailable (module, token, PIN, key,
// mechanism, or the token failing mid-way), keys.unwrap_failed, keys.bad_wrapped,
// keys.wrap_failed. Messages name the module, token and key, and the CKR_ code; never the PIN.

#include <memory>
#include <string>

#include "common/status.h"
#include "crypto/kek.h"

namespace cosmoseal::crypto {

// keys.kek_config when a required field is missing or mechanism is unknown.
common::Status checkPkcs11KekSpec(const Pkcs11KekSpec& spec);

common::StatusOr<std::unique_ptr<KekProvider>> openPkcs11Kek(const Pkcs11KekSpec& spec);

// Generates the KEK inside the token: an AES-256 token object labelled spec.key_label,
// private, sensitive, not extractable, allowed to encrypt/decrypt/wrap/unwrap. Refuses when a
// key with that label exists. For SoftHSM2 and test setups; production HSMs usually create keys
// with their own tools under dual control. `extractable` exists for the test that shows an
// extractable key is refused.
common::Status createPkcs11Kek(const Pkcs11KekSpec& spec, bool extractable = false);

// Asks the token for the key's value (C_GetAttributeValue CKA_VALUE) and to wrap the key with
// itself (C_WrapKey), and reports what the token answered, e.g.
// "CKA_VALUE: CKR_ATTRIBUTE_SENSITIVE; C_WrapKey: CKR_KEY_UNEXTRACTABLE". `leaked` is set when
// either call returned bytes.
common::StatusOr<std::string> probePkcs11KekExtraction(const Pkcs11KekSpec& spec, bool* leaked);

}  // namespace cosmoseal::crypto
