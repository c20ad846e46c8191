package dataplane

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Errors a TokenVerifier or LiveCheck returns, wrapped with %w, so the data
// plane can name the rule that refused a request. Anything else a verifier
// returns is reported as ReasonTokenInvalid.
var (
	// ErrNoToken: the request carried no access token. Send Authorization: DPoP <token>.
	ErrNoToken = errors.New("dataplane: no access token")
	// ErrTokenInvalid: the token's signature, issuer, audience or claims do not verify.
	// Obtain a new token by starting the transfer again.
	ErrTokenInvalid = errors.New("dataplane: access token invalid")
	// ErrTokenExpired: the token's exp has passed. Obtain a new token.
	ErrTokenExpired = errors.New("dataplane: access token expired")
	// ErrProofInvalid: the DPoP proof is missing, does not verify, or is bound to
	// another key, method or URL. A stolen token without its key ends here.
	ErrProofInvalid = errors.New("dataplane: proof of possession invalid")
	// ErrWrongTransfer: the token was issued for another transfer than the URL names.
	ErrWrongTransfer = errors.New("dataplane: token is for another transfer")
	// ErrWrongDataset: the token names a dataset the transfer's agreement does not cover.
	ErrWrongDataset = errors.New("dataplane: token is for another dataset")
	// ErrRevoked: the agreement was revoked or the transfer terminated.
	ErrRevoked = errors.New("dataplane: agreement revoked")
	// ErrUseCountExceeded: the agreement's use count is exhausted.
	ErrUseCountExceeded = errors.New("dataplane: use count exceeded")
	// ErrOutsideWindow: now is outside the agreement's notBefore/notAfter window.
	ErrOutsideWindow = errors.New("dataplane: outside the agreement's time window")
	// ErrComputeOnly: the agreement is compute-only: its data is not served;
	// the consumer runs programs at the provider instead.
	ErrComputeOnly = errors.New("dataplane: agreement is compute-only")
	// ErrUnknownTransfer: the connector knows no such transfer.
	ErrUnknownTransfer = errors.New("dataplane: unknown transfer")

	// ErrNotFound: the path names nothing in the dataset.
	ErrNotFound = errors.New("dataplane: not found")
	// ErrBusy: a concurrency limit is full; retry after the Retry-After delay.
	ErrBusy = errors.New("dataplane: busy")
	// ErrHashMismatch: the bytes delivered do not hash to the dataset's registered
	// content hash. Do not use the data; the mismatch is on the ledger.
	ErrHashMismatch = errors.New("dataplane: content hash does not match the registered hash")
	// ErrChanged: the dataset changed since the partial copy was taken (ETag
	// differs); the transfer must start again from byte 0.
	ErrChanged = errors.New("dataplane: dataset changed since the partial download")
)

// Reasons recorded in transfer.denied and returned in the JSON error body.
const (
	ReasonNoToken          = "token-missing"
	ReasonTokenInvalid     = "token-invalid"
	ReasonTokenExpired     = "token-expired"
	ReasonProofInvalid     = "proof-invalid"
	ReasonWrongTransfer    = "wrong-transfer"
	ReasonWrongDataset     = "wrong-dataset"
	ReasonRevoked          = "agreement-revoked"
	ReasonUseCountExceeded = "use-count-exceeded"
	ReasonComputeOnly      = "compute-only"
	ReasonOutsideWindow    = "outside-window"
	ReasonUnknownTransfer  = "unknown-transfer"
	ReasonNotFound         = "not-found"
	ReasonBusy             = "busy"
	ReasonRange            = "range-not-satisfiable"
	ReasonPrecondition     = "precondition-failed"
	ReasonBadRequest       = "bad-request"
	ReasonInternal         = "internal"
)

// denial maps an authorisation error to its reason and HTTP status. It is the
// one place where refusals become status codes.
// ReasonOf is the refusal reason and HTTP status the data plane gives err.
func ReasonOf(err error) (reason string, status int) { return denial(err) }

func denial(err error) (reason string, status int) {
	switch {
	case errors.Is(err, ErrNoToken):
		return ReasonNoToken, http.StatusUnauthorized
	case errors.Is(err, ErrTokenExpired):
		return ReasonTokenExpired, http.StatusUnauthorized
	case errors.Is(err, ErrProofInvalid):
		return ReasonProofInvalid, http.StatusUnauthorized
	case errors.Is(err, ErrWrongTransfer):
		return ReasonWrongTransfer, http.StatusForbidden
	case errors.Is(err, ErrWrongDataset):
		return ReasonWrongDataset, http.StatusForbidden
	case errors.Is(err, ErrRevoked):
		return ReasonRevoked, http.StatusForbidden
	case errors.Is(err, ErrUseCountExceeded):
		return ReasonUseCountExceeded, http.StatusForbidden
	case errors.Is(err, ErrComputeOnly):
		return ReasonComputeOnly, http.StatusForbidden
	case errors.Is(err, ErrOutsideWindow):
		return ReasonOutsideWindow, http.StatusForbidden
	case errors.Is(err, ErrUnknownTransfer):
		return ReasonUnknownTransfer, http.StatusNotFound
	case errors.Is(err, ErrTokenInvalid):
		return ReasonTokenInvalid, http.StatusUnauthorized
	}
	return ReasonTokenInvalid, http.StatusUnauthorized
}

// ErrorBody is the JSON body of every refused data-plane request.
type ErrorBody struct {
	// Reason is one of the Reason constants: the rule that refused the request.
	Reason string `json:"reason"`
	// Message says what happened and what to do.
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, reason, msg string) {
	h := w.Header()
	h.Del("Content-Length")
	h.Del("ETag")
	h.Del("Last-Modified")
	h.Del("Accept-Ranges")
	h.Del("Repr-Digest")
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `DPoP algs="EdDSA ES256", Bearer`)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(ErrorBody{Reason: reason, Message: msg})
}

// Error is what a client sees when the data plane refused its request: the
// status and the reason the server named.
type Error struct {
	Status  int
	Reason  string
	Message string
	// RetryAfter is the server's Retry-After for a busy refusal, else 0.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	// The server's message is its own error text, which names the data plane
	// already: say it once.
	msg := "dataplane: refused (" + http.StatusText(e.Status) + ", " + e.Reason + "): " + strings.TrimPrefix(e.Message, "dataplane: ")
	if e.RetryAfter > 0 {
		msg += " (retry after " + e.RetryAfter.String() + ")"
	}
	return msg
}
