// Package suite is a space's crypto suite: which signature, hash, JWS
// algorithm, checkpoint-note key type and JWK form every participant and
// every ledger of the space uses. A space's suite is fixed at genesis
// (ledger.Genesis.Suite) and checked by the rulebook.
//
// Two suites exist:
//
//   - intl (the default, and what a genesis without a suite means): Ed25519
//     or ES256 signatures, SHA-256 hashes, Ed25519 checkpoint notes (C2SP
//     signed-note type 0x01).
//   - gm (国密): SM2 signatures with SM3 per GB/T 32918 / GM/T 0003 (the
//     default user id 1234567812345678 of GM/T 0009), SM3 hashes per
//     GB/T 32905, JWS alg "SM3withSM2", JWK kty "EC" crv "SM2" with an SM3
//     RFC 7638 thumbprint, and SM2 checkpoint notes (signed-note type 0xff
//     followed by the identifier "tdsc-sm2-sm3").
//
// The Merkle tree keeps the structure of RFC 6962 in both suites (leaf
// prefix 0x00, node prefix 0x01, the same inclusion and consistency proofs);
// only the hash changes. SM2 and SM3 come from github.com/emmansun/gmsm.
package suite
