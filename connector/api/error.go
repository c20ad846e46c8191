package api

// Error is the management API's error body: {"error":{"code":…,"message":…}}.
// Code is one of the codes below; Message says what was wrong, naming the
// field and the rule, once.
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the inside of Error.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes.
const (
	CodeBadRequest        = "bad-request"
	CodeUnauthorized      = "unauthorized"
	CodeNotFound          = "not-found"
	CodeConflict          = "conflict"
	CodeHashMismatch      = "hash-mismatch"
	CodeInvalidTransition = "invalid-transition"
	CodePeerRefused       = "peer-refused"
	CodePeerUnreachable   = "peer-unreachable"
	CodePeerMalformed     = "peer-malformed"
	CodeTimeout           = "timeout"
	CodeInternal          = "internal"
)
