#pragma once

// The KMIP KEK provider: the KEK is a symmetric key inside a KMIP key manager (an on-premises
// key server; PyKMIP for tests). cosmoseal asks the server to encrypt and decrypt data keys and
// never holds the KEK's bytes.
//
// Design (docs/FORMAT.md §7, docs/CONFIG.md keys.kek):
//   * Transport: KMIP 1.4 TTLV (crypto/internal/ttlv.h) over TLS 1.2+ (OpenSSL), mutual: the
//     server's certificate must chain to ca_file and name the host (DNS or IP), and cosmoseal
//     presents cert_file/key_file (KMIP servers identify clients by their certificate). One
//     connection per provider, opened by openKmipKek and reopened once when it breaks; connect,
//     read and write time out after 10 s. Replies are read with a bounded length (64 KiB) into
//     locked memory, and parsed with every length checked (network input). Requests are built in
//     locked memory too, and OpenSSL wipes its copy of received plaintext
//     (SSL_OP_CLEANSE_PLAINTEXT): a Decrypt reply holds a data key.
//   * The key: by Unique Identifier (key_id), or by Name (key_name: Locate, exactly one match).
//     Then Get Attributes; the provider refuses a key that is not an active AES-256 key allowed
//     to Encrypt and Decrypt, that carries the Export usage bit, or that the server does not
//     report as Sensitive (KMIP 1.4: the server shall not return a sensitive key's bytes in the
//     clear). What is checked is what the server says about the key: the protocol cannot prove
//     that the server keeps its word.
//   * Wrapping: the server's Encrypt/Decrypt with AES-GCM, a fresh 96-bit IV from cosmoseal, a
//     16-byte tag and the entry as authenticated data (keyWrapAad): format byte 0x05 | IV |
//     ciphertext (64) | tag (16). The data key crosses the TLS connection to and from the server;
//     the KEK never leaves it.
//
// id(): "kmip:uid=<Unique Identifier>" (the server's name for the key; the address is not part
// of it, so a replica or a new address of the same server still opens the keyring).
//
// Errors: keys.kek_config (spec incomplete), keys.kek_unavailable (cannot connect, TLS or
// certificate failure, the server refusing: its Result Reason and Result Message are in the
// text; the key missing, ambiguous or readable), keys.unwrap_failed (the server's Decrypt fails
// with Cryptographic Failure: a wrong key, or an altered or moved entry), keys.bad_wrapped,
// keys.wrap_failed. Messages never contain key bytes.

#include <memory>

#include "common/status.h"
#include "crypto/kek.h"

namespace cosmoseal::crypto {

// keys.kek_config when server, the key or a file is missing, or server is not HOST:PORT.
common::Status checkKmipKekSpec(const KmipKekSpec& spec);

common::StatusOr<std::unique_ptr<KekProvider>> openKmipKek(const KmipKekSpec& spec);

}  // namespace cosmoseal::crypto
