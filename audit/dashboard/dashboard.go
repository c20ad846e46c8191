package dashboard

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/suite"
)

// Backend is what the dashboard reads of a ledger. The embedded store
// (ledger/embedded.Store) satisfies it.
type Backend interface {
	// Batches calls fn for every committed batch in order, from the batch holding index from.
	Batches(ctx context.Context, from uint64, fn func(*ledger.StoredBatch) error) error
	// Record returns a record with its inclusion proof against the latest checkpoint.
	Record(ctx context.Context, id string) (ledger.Proven, error)
	// Checkpoint returns the latest signed checkpoint note.
	Checkpoint(ctx context.Context) ([]byte, error)
	// Participant returns a participant as currently registered (for batch signers' keys).
	Participant(ctx context.Context, id string) (identity.Participant, error)
}

// Principal is who a session speaks for: the identity.Principal of the role
// token it was opened with, and when that token expires.
type Principal struct {
	identity.Principal
	// Expires is when the token it was exchanged for expires; the session ends then at the latest.
	Expires time.Time `json:"expires"`
}

// Authenticate verifies a role token presented at login and says whom it speaks for.
// It returns an error wrapping ErrUnauthenticated (or identity's errors) when
// the token is not acceptable.
type Authenticate func(ctx context.Context, token string) (Principal, error)

// RoleTokens authenticates role tokens addressed to aud with v
// (identity.Verifier.VerifyRole): authority-issued auditor and regulator
// tokens, and participants' self-signed read tokens.
func RoleTokens(v *identity.Verifier, aud string) Authenticate {
	return func(ctx context.Context, token string) (Principal, error) {
		c, err := v.VerifyRole(ctx, token, aud)
		if err != nil {
			return Principal{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
		p := Principal{Principal: identity.PrincipalOf(c)}
		if c.ExpiresAt != nil {
			p.Expires = c.ExpiresAt.Time
		}
		return p, nil
	}
}

// Errors the handler maps to HTTP statuses in one place (writeError).
var (
	// ErrUnauthenticated: no session, an expired one, or a token refused at login. Log in again.
	ErrUnauthenticated = errors.New("dashboard: not logged in")
	// ErrBadRequest: a query parameter is malformed; the message names it.
	ErrBadRequest = errors.New("dashboard: bad request")
	// ErrNotVisible: the record exists but not for this principal; answered as not found.
	ErrNotVisible = errors.New("dashboard: no such record for this principal")
	// ErrForbidden: the principal's role may not do this, or a POST came from another origin.
	ErrForbidden = errors.New("dashboard: not allowed")
)

// Option configures a Handler.
type Option func(*Handler)

// WithClock sets the clock used for session expiry, checkpoint age and overdue duties.
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithSessionTTL caps a session's life (default 8 h; never beyond the token's own expiry).
func WithSessionTTL(d time.Duration) Option { return func(h *Handler) { h.sessionTTL = d } }

// WithSessionKey sets the HMAC key of session cookies (at least 32 bytes).
// The default is a random key per handler: sessions end when the process does.
func WithSessionKey(k []byte) Option {
	return func(h *Handler) { h.sessionKey = append([]byte(nil), k...) }
}

// WithSecureCookies marks session cookies Secure even on plain-HTTP requests,
// for a handler behind a TLS-terminating proxy. Cookies on TLS requests are always Secure.
func WithSecureCookies() Option { return func(h *Handler) { h.alwaysSecure = true } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithPrefix sets the path the handler is mounted at (default "/ui").
func WithPrefix(p string) Option { return func(h *Handler) { h.prefix = strings.TrimSuffix(p, "/") } }

// WithVerify sets the full-ledger verification the Ledger health page can run
// (for instance verify.Ledger over StoreSource(store)). Without it the page
// says verification is not available here.
func WithVerify(fn func(ctx context.Context) (verify.Report, error)) Option {
	return func(h *Handler) { h.verifyFn = fn }
}

// Handler is the dashboard. It is safe for concurrent use.
type Handler struct {
	b            Backend
	verifier     note.Verifier
	cs           *suite.Suite // the ledger's suite, from its checkpoint key
	vkey         string
	auth         Authenticate
	now          func() time.Time
	sessionTTL   time.Duration
	sessionKey   []byte
	alwaysSecure bool
	log          *slog.Logger
	prefix       string
	verifyFn     func(ctx context.Context) (verify.Report, error)

	mirror  *mirror
	reports *reportCache
	checks  *verifyState
	mux     *http.ServeMux
}

// New returns the dashboard over backend b, whose checkpoints verify under the
// note verifier key vkey, letting in whoever auth accepts. Mount it at its
// prefix: mux.Handle("/ui/", h).
func New(b Backend, vkey string, auth Authenticate, opts ...Option) (*Handler, error) {
	if b == nil || auth == nil {
		return nil, errors.New("dashboard: backend and auth are required")
	}
	v, err := suite.NewNoteVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("dashboard: checkpoint verifier key: %w", err)
	}
	h := &Handler{b: b, verifier: v, cs: suite.OfNoteVerifier(v), vkey: vkey, auth: auth, now: time.Now, sessionTTL: 8 * time.Hour,
		log: slog.Default(), prefix: "/ui"}
	for _, o := range opts {
		o(h)
	}
	if h.sessionKey == nil {
		h.sessionKey = make([]byte, 32)
		_, _ = rand.Read(h.sessionKey) // crypto/rand.Read never fails (Go 1.24+)
	}
	if len(h.sessionKey) < 32 {
		return nil, fmt.Errorf("dashboard: session key: %d bytes, need at least 32", len(h.sessionKey))
	}
	if h.sessionTTL <= 0 {
		return nil, fmt.Errorf("dashboard: session TTL: %v must be positive", h.sessionTTL)
	}
	if h.prefix == "" || !strings.HasPrefix(h.prefix, "/") {
		return nil, fmt.Errorf("dashboard: prefix %q must start with /", h.prefix)
	}
	h.mirror = newMirror(b, v, h.now)
	h.reports = newReportCache(32)
	h.checks = &verifyState{}
	h.routes()
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	if err := sameOrigin(r); err != nil {
		h.writeError(w, r, err)
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) routes() {
	p := h.prefix
	m := http.NewServeMux()
	m.HandleFunc("GET "+p+"/{$}", h.serveIndex)
	m.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, p+"/", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET "+p+"/assets/{file}", h.serveAsset)
	m.HandleFunc("POST "+p+"/api/login", h.login)
	m.HandleFunc("POST "+p+"/api/logout", h.logout)
	m.HandleFunc("GET "+p+"/api/session", h.authed(h.session))
	m.HandleFunc("GET "+p+"/api/flows", h.authed(h.flows))
	m.HandleFunc("GET "+p+"/api/timeline", h.authed(h.timeline))
	m.HandleFunc("GET "+p+"/api/records", h.authed(h.records))
	m.HandleFunc("GET "+p+"/api/records/{id}", h.authed(h.record))
	m.HandleFunc("GET "+p+"/api/rules", h.authed(h.rules))
	m.HandleFunc("GET "+p+"/api/health", h.authed(h.health))
	m.HandleFunc("POST "+p+"/api/verify", h.authed(h.runVerify))
	m.HandleFunc(p+"/api/", func(w http.ResponseWriter, r *http.Request) {
		h.writeError(w, r, fmt.Errorf("%w: no endpoint %s %s", errNoRoute, r.Method, r.URL.Path))
	})
	h.mux = m
}

var errNoRoute = errors.New("dashboard: no such endpoint")

// writeError is the one place errors become statuses.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var me *ledger.MalformedError
	switch {
	case errors.Is(err, ErrUnauthenticated):
		status = http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, ErrBadRequest), errors.As(err, &me):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotVisible), errors.Is(err, ledger.ErrNotFound), errors.Is(err, errNoRoute):
		status = http.StatusNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		status = http.StatusServiceUnavailable
	}
	msg := err.Error()
	if errors.Is(err, ErrNotVisible) {
		msg = "not found" // do not confirm that a record exists to someone who may not see it
	}
	if status == http.StatusInternalServerError {
		h.log.ErrorContext(r.Context(), "dashboard request failed", "path", r.URL.Path, "err", err)
		msg = "internal error; see the server log"
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

// sameOrigin refuses a state-changing request (login, logout, verify) sent
// by a page of another origin. The session cookie is SameSite=Strict already;
// this also covers login CSRF and browsers without SameSite.
func sameOrigin(r *http.Request) error {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil // not a browser's cross-origin request (browsers send Origin on POST)
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host != r.Host {
		return fmt.Errorf("%w: header Origin %q is not this server (%s)", ErrForbidden, origin, r.Host)
	}
	return nil
}
