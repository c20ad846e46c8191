// Package identity holds participants' keys (Ed25519 by default, ES256 accepted),
// their public JWKs with RFC 7638 thumbprints as kid, the registry client that
// resolves a participant's current key and attributes from the ledger, and the
// three JWTs of the space (protocol, access and role tokens), issued and verified
// with github.com/golang-jwt/jwt/v5.
//
// Verification never trusts a token's header for its key or algorithm: the key
// comes from the registry by kid, the algorithm from an allow-list.
package identity
