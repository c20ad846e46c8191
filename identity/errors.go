package identity

import "errors"

// Sentinel errors of the registry and of token verification. Every error a
// Verifier returns wraps exactly one of these (checked with errors.Is) and says
// in its message which claim or header broke which rule. An HTTP surface maps
// them to status codes with StatusCode.
var (
	// ErrUnknownParticipant: the id is not registered on the ledger. Refuse the
	// caller; it must be registered by the authority first.
	ErrUnknownParticipant = errors.New("identity: unknown participant")
	// ErrUnknownKey: the participant has no registered key with this kid (or the
	// token names none). Refuse; a connector that rotated its key must have the
	// new one registered before using it.
	ErrUnknownKey = errors.New("identity: unknown key")
	// ErrSuspended: the participant is registered but suspended by the authority.
	// Refuse everything it signs until the authority reinstates it.
	ErrSuspended = errors.New("identity: participant suspended")

	// ErrTokenTooLarge: the token is longer than the verifier's limit and was
	// not parsed. Refuse; no legitimate token comes near the limit.
	ErrTokenTooLarge = errors.New("identity: token too large")
	// ErrMalformed: the token is not a well-formed JWS compact JWT or lacks a
	// required claim. Refuse.
	ErrMalformed = errors.New("identity: malformed token")
	// ErrAlgorithm: the token's alg is not on the space's allow-list (EdDSA,
	// ES256 in an intl space; SM3withSM2 in a gm space, where the other
	// suite's alg also matches suite.ErrMixed), or does not match the
	// registered key's type. Refuse.
	ErrAlgorithm = errors.New("identity: algorithm not allowed")
	// ErrForbiddenHeader: the token carries a header that would let it choose
	// its own key (jku, x5u, x5c, jwk outside a DPoP proof) or a crit extension.
	// Refuse; keys come from the registry only.
	ErrForbiddenHeader = errors.New("identity: forbidden token header")
	// ErrWrongKind: a token of one kind (protocol, access, role, DPoP proof)
	// presented where another is required. Refuse.
	ErrWrongKind = errors.New("identity: wrong token kind")
	// ErrExpired: the token's exp (plus leeway) has passed. The holder should
	// obtain a fresh token (access tokens: refresh while the agreement lives).
	ErrExpired = errors.New("identity: token expired")
	// ErrNotYetValid: the token's nbf or iat lies in the future beyond the leeway.
	// Refuse; check the clocks of both parties.
	ErrNotYetValid = errors.New("identity: token not yet valid")
	// ErrLifetime: the token asks for a longer life than its kind allows
	// (protocol tokens: 5 minutes). Refuse.
	ErrLifetime = errors.New("identity: token lifetime too long")
	// ErrWrongAudience: the token is addressed to someone else. Refuse.
	ErrWrongAudience = errors.New("identity: wrong audience")
	// ErrWrongIssuer: the issuer is not the one this token kind requires
	// (protocol: iss must equal sub; access: the provider itself; role: the
	// authority, or the participant itself for a self-signed read token).
	ErrWrongIssuer = errors.New("identity: wrong issuer")
	// ErrReplay: a token or proof id (jti) seen before within its lifetime. Refuse;
	// a genuine client makes a fresh token per request.
	ErrReplay = errors.New("identity: token replayed")
	// ErrReplayCacheFull: the replay cache is at capacity with unexpired ids, so
	// a new id cannot be remembered. The verifier fails closed; answer 503 and
	// let the caller retry.
	ErrReplayCacheFull = errors.New("identity: replay cache full")
	// ErrNoProof: an access token presented without its DPoP proof of possession.
	// Refuse; a stolen token alone is useless by design.
	ErrNoProof = errors.New("identity: proof of possession missing")
	// ErrBadProof: the DPoP proof is invalid: wrong method or URL, stale, not
	// for this access token, or signed by a key other than the one the token is
	// bound to. Refuse.
	ErrBadProof = errors.New("identity: bad proof of possession")
	// ErrWrongAgreement: the access token was issued for another agreement,
	// dataset or transfer than the one requested. Refuse.
	ErrWrongAgreement = errors.New("identity: token not for this agreement")
	// ErrRole: the role token's role or scope does not permit the request. Refuse.
	ErrRole = errors.New("identity: role not permitted")
	// ErrAgreementEnded: refresh refused because the agreement is no longer live.
	ErrAgreementEnded = errors.New("identity: agreement no longer live")
)

// StatusCode maps a verification error to the HTTP status an API answers with:
// 503 for a full replay cache (retry later), 403 for a suspended participant or
// a refused role, 401 for every other token error, 500 otherwise.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, ErrReplayCacheFull):
		return 503
	case errors.Is(err, ErrSuspended), errors.Is(err, ErrRole), errors.Is(err, ErrWrongAgreement), errors.Is(err, ErrAgreementEnded):
		return 403
	case errors.Is(err, ErrTokenTooLarge), errors.Is(err, ErrMalformed), errors.Is(err, ErrAlgorithm),
		errors.Is(err, ErrForbiddenHeader), errors.Is(err, ErrWrongKind), errors.Is(err, ErrExpired),
		errors.Is(err, ErrNotYetValid), errors.Is(err, ErrLifetime), errors.Is(err, ErrWrongAudience),
		errors.Is(err, ErrWrongIssuer), errors.Is(err, ErrReplay), errors.Is(err, ErrNoProof),
		errors.Is(err, ErrBadProof), errors.Is(err, ErrUnknownKey), errors.Is(err, ErrUnknownParticipant),
		errors.Is(err, ErrBadSignature), errors.Is(err, ErrBadKey):
		return 401
	}
	return 500
}
