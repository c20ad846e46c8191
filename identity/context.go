package identity

import (
	"context"
	"net/http"
	"strings"
)

// Claims are verified token claims as they travel in a request's context.
// *ProtocolClaims, *AccessClaims and *RoleClaims implement it.
type Claims interface {
	// TokenKind is the kind of token the claims came from.
	TokenKind() Kind
	// Caller is the participant the request acts for: sub.
	Caller() string
}

// TokenKind implements Claims.
func (c *ProtocolClaims) TokenKind() Kind { return KindProtocol }

// Caller implements Claims: the calling participant.
func (c *ProtocolClaims) Caller() string { return c.Subject }

// TokenKind implements Claims.
func (c *AccessClaims) TokenKind() Kind { return KindAccess }

// Caller implements Claims: the consumer.
func (c *AccessClaims) Caller() string { return c.Subject }

// TokenKind implements Claims.
func (c *RoleClaims) TokenKind() Kind { return KindRole }

// Caller implements Claims: the auditor, regulator or participant.
func (c *RoleClaims) Caller() string { return c.Subject }

type claimsKey struct{}

// NewContext returns ctx carrying verified claims.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// FromContext returns the verified claims ctx carries, if any.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(Claims)
	return c, ok && c != nil
}

// BearerToken extracts the token of an "Authorization: Bearer <token>" header,
// or "" when there is none. The DPoP scheme ("Authorization: DPoP <token>") is
// accepted too.
func BearerToken(r *http.Request) string {
	h := r.Header.Get("Authorization")
	for _, scheme := range []string{"Bearer ", "DPoP "} {
		if len(h) > len(scheme) && strings.EqualFold(h[:len(scheme)], scheme) {
			return strings.TrimSpace(h[len(scheme):])
		}
	}
	return ""
}

// RequireProtocol is HTTP middleware for connector-to-connector (DSP) calls:
// it verifies the protocol token in "Authorization: Bearer" addressed to self,
// answers with the reason and the status of StatusCode on failure,
// and otherwise passes the request on with the claims in its context.
func RequireProtocol(v *Verifier, self string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := v.VerifyProtocol(r.Context(), BearerToken(r), self)
			if err != nil {
				status := StatusCode(err)
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				http.Error(w, err.Error(), status)
				return
			}
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), c)))
		})
	}
}
