// Package dcp speaks the Decentralized Claims Protocol 1.0 (Eclipse Dataspace
// DCP, profile vc20-bssl/jwt) beside tdsc's ledger registry, so that peers
// identified by a did:web DID can authenticate with self-issued ID tokens and
// verifiable presentations instead of tdsc protocol tokens.
//
// The pieces:
//
//   - Document, NewDocument, ParseDocument: a did:web DID document with the
//     node's key (authentication, assertionMethod and capabilityInvocation) and
//     its DSP and CredentialService service entries. WebURL maps a did:web to
//     its HTTPS address.
//   - Resolver: resolves did:web over HTTPS only (never plain HTTP, never a
//     redirect), with a bounded, expiring cache.
//   - STS (Secure Token Service): mints the node's self-issued ID tokens and
//     the access tokens its Credential Service honours.
//   - CredentialIssuer: the authority's side. It issues JWT verifiable
//     credentials (VC Data Model 2.0, enveloped JOSE proof) stating what the
//     ledger registry states about a participant, and serves a Bitstring
//     Status List through which ledger suspensions revoke them (Reconcile).
//   - CredentialService: the holder's side, answering POST
//     /presentations/query for DCP scopes with a verifiable presentation, after
//     checking the verifier's self-issued ID token and the access token in it.
//   - Verifier: checks a caller's self-issued ID token against its DID
//     document, fetches its presentations from its Credential Service, checks
//     them against the trusted issuers and the status list, and yields the
//     same identity.Participant the ledger registry yields for tdsc peers.
//   - IssuerService: the authority's Credential Issuance Protocol (DCP §6):
//     GET /metadata, POST /credentials (a holder's CredentialRequestMessage,
//     granted only for a DID the ledger registers active) and GET
//     /requests/{id}; it delivers the credential to the holder's Credential
//     Service in a CredentialMessage.
//   - CredentialService also takes CredentialMessages and offers from its
//     trusted issuers (POST /credentials, POST /offers), verifying every
//     credential before filing any.
//   - Node: the pieces assembled for a connector node, with one Handler for
//     its DID document and Credential Service, Token for its requests, and
//     RequestCredential to obtain its membership credential from an issuer.
//   - RequireEither: HTTP middleware for DSP endpoints accepting both a tdsc
//     protocol token (by its typ) and a DCP request; the verified claims
//     travel in the context (identity.FromContext, FromContext).
//
// Every refusal wraps a sentinel error, of this package (ErrDID,
// ErrPresentation, ErrUntrustedIssuer, ErrRevoked, ErrWrongSubject,
// ErrIssuance, ErrNoRequest) or of
// identity (ErrExpired, ErrReplay, ErrWrongAudience, ErrUnknownKey, ...), and
// names the field and rule at fault. The security model is in
// docs/security.md (section "Decentralized Claims Protocol").
package dcp
