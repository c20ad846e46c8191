// Package identity holds participants' keys (Ed25519 by default, ES256 accepted;
// SM2 in a gm space, with the SM3withSM2 JWS method, see package suite),
// their public JWKs with RFC 7638 thumbprints as kid, the registry client that
// resolves a participant's current key and attributes from the ledger, and the
// three JWTs of the space (protocol, access and role tokens), issued and verified
// with github.com/golang-jwt/jwt/v5.
//
// Verification never trusts a token's header for its key or algorithm: the key
// comes from the registry by kid, the algorithm from an allow-list.
//
// The pieces:
//
//   - Key, JWK: a private signing key in a 0600 file, and its public JWK.
//   - Registry: cached lookups of participants from a Source (the ledger's
//     embedded store or HTTP client), refreshed on an unknown kid, refusing
//     suspended participants; JWKSHandler serves their keys.
//   - Issuer: signs protocol tokens (every connector-to-connector call),
//     access tokens (a provider's data plane, bound to the consumer's key) and
//     role tokens (auditor and regulator from the authority; a participant's
//     self-signed read token). DPoPProof makes the consumer's per-request proof.
//   - Verifier: VerifyProtocol, VerifyAccess (with the DPoP proof),
//     VerifyAccessForRefresh and VerifyRole. Every refusal wraps one of the
//     sentinel errors (ErrExpired, ErrReplay, ErrSuspended, ...) and names the
//     claim or header at fault; StatusCode maps them to HTTP.
//   - NewContext, FromContext carry verified claims in a request's context;
//     RequireProtocol is the HTTP middleware for protocol tokens.
//
// Peers that authenticate with the Decentralized Claims Protocol (did:web,
// verifiable credentials) are verified by the subpackage identity/dcp, which
// yields the same Participant.
//
// The security model, what each check stops and measured figures are in
// docs/security.md. This package must not import ledger: ledger imports it.
package identity
