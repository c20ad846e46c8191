package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/tdsc/tdsc/identity"
)

// CookieName is the session cookie's name.
const CookieName = "tdsc_ui_session"

// maxLoginBytes bounds a login body: a role token is at most a few kilobytes.
const maxLoginBytes = 16 << 10

// sessionClaims is what a session cookie carries, signed with the handler's key.
type sessionClaims struct {
	Sub  string `json:"sub"`
	Role string `json:"role"`
	Exp  int64  `json:"exp"` // unix seconds
}

func (h *Handler) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, h.sessionKey)
	m.Write([]byte("tdsc-ui-session-v1\n"))
	m.Write(payload)
	return m.Sum(nil)
}

func (h *Handler) encodeSession(p Principal, exp time.Time) string {
	payload, _ := json.Marshal(sessionClaims{Sub: p.ID, Role: p.Role, Exp: exp.Unix()})
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(h.mac(payload))
}

func (h *Handler) decodeSession(v string) (Principal, error) {
	a, b, ok := strings.Cut(v, ".")
	if !ok {
		return Principal{}, fmt.Errorf("%w: session cookie is malformed", ErrUnauthenticated)
	}
	// Only the spelling it was issued in (identity.DecodeBase64URL).
	payload, err1 := identity.DecodeBase64URL(a)
	sig, err2 := identity.DecodeBase64URL(b)
	if err1 != nil || err2 != nil || !hmac.Equal(sig, h.mac(payload)) {
		return Principal{}, fmt.Errorf("%w: session cookie does not verify", ErrUnauthenticated)
	}
	var c sessionClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Sub == "" || c.Role == "" {
		return Principal{}, fmt.Errorf("%w: session cookie is malformed", ErrUnauthenticated)
	}
	exp := time.Unix(c.Exp, 0)
	if !h.now().Before(exp) {
		return Principal{}, fmt.Errorf("%w: session expired at %s; log in again", ErrUnauthenticated, exp.UTC().Format(time.RFC3339))
	}
	return Principal{Principal: identity.Principal{ID: c.Sub, Role: c.Role}, Expires: exp}, nil
}

func (h *Handler) secure(r *http.Request) bool { return h.alwaysSecure || r.TLS != nil }

type principalKey struct{}

func principalFrom(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// authed lets a request through only with a valid session cookie, the
// principal in its context.
func (h *Handler) authed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(CookieName)
		if err != nil {
			h.writeError(w, r, fmt.Errorf("%w: no session; log in with a role token", ErrUnauthenticated))
			return
		}
		p, err := h.decodeSession(c.Value)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// login exchanges a role token (JSON {"token": "…"} or a form field "token")
// for a session cookie.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLoginBytes))
	if err != nil {
		h.writeError(w, r, fmt.Errorf("%w: body: %v", ErrBadRequest, err))
		return
	}
	var in struct {
		Token string `json:"token"`
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &in); err != nil {
			h.writeError(w, r, fmt.Errorf("%w: body: not JSON {\"token\": \"…\"}: %v", ErrBadRequest, err))
			return
		}
	} else {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			h.writeError(w, r, fmt.Errorf("%w: body: not a form: %v", ErrBadRequest, err))
			return
		}
		in.Token = form.Get("token")
	}
	in.Token = strings.TrimSpace(in.Token)
	if in.Token == "" {
		h.writeError(w, r, fmt.Errorf("%w: field token: paste a role token", ErrUnauthenticated))
		return
	}
	p, err := h.auth(r.Context(), in.Token)
	if err != nil {
		h.log.InfoContext(r.Context(), "dashboard login refused", "err", err) // never the token
		h.writeError(w, r, fmt.Errorf("%w: %w", ErrUnauthenticated, err))
		return
	}
	exp := h.now().Add(h.sessionTTL)
	if !p.Expires.IsZero() && p.Expires.Before(exp) {
		exp = p.Expires
	}
	p.Expires = exp
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: h.encodeSession(p, exp), Path: h.prefix + "/",
		Expires: exp, HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteStrictMode})
	h.log.InfoContext(r.Context(), "dashboard login", "sub", p.ID, "role", p.Role)
	writeJSON(w, http.StatusOK, p)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: h.prefix + "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteStrictMode})
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, principalFrom(r.Context()))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}
