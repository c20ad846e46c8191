package identity

import (
	"encoding/base64"
	"errors"
)

// ErrNotCanonical: the text decodes, but is not the one spelling its bytes
// encode to. Go's decoder skips \r and \n and ignores padding bits, so one
// key, signature or cookie could otherwise be written several ways.
var ErrNotCanonical = errors.New("identity: not canonical base64url")

// DecodeBase64URL decodes unpadded base64url that must be written exactly as
// its bytes encode (RFC 7515 §2, with no line breaks or stray bits).
func DecodeBase64URL(s string) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.RawURLEncoding.EncodeToString(b) != s {
		return nil, ErrNotCanonical
	}
	return b, nil
}
