package dcp

import (
	"errors"

	"github.com/tdsc/tdsc/identity"
)

// Sentinel errors of DCP verification, besides identity's token errors.
var (
	// ErrDID: a DID is malformed, not did:web, or its document cannot be
	// resolved or is invalid (wrong id, bad key, missing relationship).
	// Refuse the caller; it must publish a valid DID document over HTTPS.
	ErrDID = errors.New("dcp: DID")
	// ErrPresentation: the Credential Service answered no valid presentation,
	// or one missing the requested credentials. Refuse the caller.
	ErrPresentation = errors.New("dcp: presentation")
	// ErrUntrustedIssuer: a credential is issued by a DID the space does not
	// trust. Refuse; only the configured issuers (the authority by default)
	// may vouch for a participant.
	ErrUntrustedIssuer = errors.New("dcp: untrusted issuer")
	// ErrRevoked: a credential's status list entry is set: the authority
	// revoked it (a suspension on the ledger). Refuse until re-issued.
	ErrRevoked = errors.New("dcp: credential revoked")
	// ErrWrongSubject: a credential names another subject than the holder
	// that presents it. Refuse.
	ErrWrongSubject = errors.New("dcp: credential for another subject")
	// ErrQuery: a PresentationQueryMessage is malformed (HTTP 400).
	ErrQuery = errors.New("dcp: bad presentation query")
	// ErrNotImplemented: a presentationDefinition query (HTTP 501); only
	// scopes are supported.
	ErrNotImplemented = errors.New("dcp: presentation definitions are not supported")
	// ErrIssuance: a Credential Issuance Protocol message (request, credential
	// message, offer) is malformed or names credentials the issuer does not
	// offer (HTTP 400). Fix the message.
	ErrIssuance = errors.New("dcp: bad issuance message")
	// ErrNoRequest: no credential request has this id, or it is another
	// holder's (HTTP 404: the two are not told apart).
	ErrNoRequest = errors.New("dcp: no such credential request")
	// ErrBusy: the Issuer Service has too many requests being decided
	// (HTTP 503). Request again later.
	ErrBusy = errors.New("dcp: issuer busy")
)

// StatusCode maps an error of this package or of identity to an HTTP status.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, ErrQuery), errors.Is(err, ErrIssuance):
		return 400
	case errors.Is(err, ErrNoRequest):
		return 404
	case errors.Is(err, ErrBusy):
		return 503
	case errors.Is(err, ErrNotImplemented):
		return 501
	case errors.Is(err, ErrRevoked), errors.Is(err, ErrUntrustedIssuer):
		return 403
	case errors.Is(err, ErrDID), errors.Is(err, ErrPresentation), errors.Is(err, ErrWrongSubject):
		return 401
	}
	return identity.StatusCode(err)
}
