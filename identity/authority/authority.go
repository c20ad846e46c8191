package authority

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
	"github.com/tdsc/tdsc/internal/atomicfile"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// Files in an authority directory.
const (
	KeyFile     = "authority.key" // the authority's private key, mode 0600
	GenesisFile = "genesis.json"  // the space's genesis, public
)

// DefaultID is the authority's participant id when none is given.
const DefaultID = "authority"

// Authority signs the space's registry and rules records and its role tokens.
type Authority struct {
	genesis ledger.Genesis
	key     *identity.Key
	now     func() time.Time
	issuer  *identity.Issuer
}

// Option configures an Authority.
type Option func(*Authority)

// WithClock injects the authority's clock (record times, token times).
func WithClock(now func() time.Time) Option { return func(a *Authority) { a.now = now } }

// New makes the authority of genesis g signing with key, which must be the
// authority key pinned in g.
func New(g ledger.Genesis, key *identity.Key, opts ...Option) (*Authority, error) {
	if key == nil {
		return nil, errors.New("authority: key: required")
	}
	if _, ok := g.Authority.Key(key.KeyID()); !ok {
		return nil, fmt.Errorf("%w: field key: %s is not the authority key pinned in the genesis of space %q", ErrInvalid, key.KeyID(), g.Space)
	}
	a := &Authority{genesis: g, key: key, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	iss, err := identity.NewIssuer(g.Authority.ID, key, identity.WithIssuerClock(a.now))
	if err != nil {
		return nil, err
	}
	a.issuer = iss
	return a, nil
}

// InitOptions are the choices of Init.
type InitOptions struct {
	Space  string // the space id (required)
	ID     string // the authority's participant id; DefaultID if empty
	Name   string // its display name
	Region string // its region code; "CN" if empty
	Alg    string // intl: "EdDSA" (default) or "ES256"; gm: "" or "SM3withSM2"
	Suite  string // the space's crypto suite: "intl" (default) or "gm"
}

// Init creates a space in dir: a new authority key (KeyFile, 0600) and the
// genesis (GenesisFile) pinning it. It refuses a directory that already holds
// either file.
func Init(dir string, o InitOptions, opts ...Option) (*Authority, error) {
	if o.ID == "" {
		o.ID = DefaultID
	}
	if o.Name == "" {
		o.Name = "Space authority"
	}
	if o.Region == "" {
		o.Region = "CN"
	}
	if err := validateID("space", o.Space); err != nil {
		return nil, err
	}
	if err := validateID("id", o.ID); err != nil {
		return nil, err
	}
	if err := ValidateRegion(o.Region); err != nil {
		return nil, err
	}
	cs, err := suite.Lookup(o.Suite)
	if err != nil {
		return nil, invalid("suite", "%v", err)
	}
	if o.Alg != "" && !cs.AllowsAlg(o.Alg) {
		return nil, invalid("alg", "the %s suite signs with %v, got %q", cs, cs.Algorithms(), o.Alg)
	}
	key, err := identity.Generate(cs, o.Alg)
	if err != nil {
		return nil, err
	}
	a := &Authority{now: time.Now}
	for _, opt := range opts {
		opt(a)
	}
	g := ledger.Genesis{
		Space: o.Space,
		Authority: identity.Participant{
			ID: o.ID, Name: o.Name, Keys: []identity.JWK{key.JWK()}, Region: o.Region,
			OrgType: "authority", Status: identity.StatusActive,
		},
		Created: a.now().UTC().Format(time.RFC3339),
	}
	if cs != suite.Intl {
		g.Suite = cs.Name()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("authority: init: %w", err)
	}
	gpath := filepath.Join(dir, GenesisFile)
	if _, err := os.Stat(gpath); err == nil {
		return nil, fmt.Errorf("authority: init: %s exists: this directory already holds a space", gpath)
	}
	if err := key.Save(filepath.Join(dir, KeyFile)); err != nil {
		return nil, fmt.Errorf("authority: init: %w", err)
	}
	data, _ := json.MarshalIndent(g, "", "  ")
	if err := atomicfile.Write(gpath, append(data, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("authority: init: %w", err)
	}
	return New(g, key, opts...)
}

// Open loads the authority of the space in dir (KeyFile and GenesisFile).
func Open(dir string, opts ...Option) (*Authority, error) {
	g, err := ReadGenesis(filepath.Join(dir, GenesisFile))
	if err != nil {
		return nil, err
	}
	key, err := identity.LoadKey(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	return New(g, key, opts...)
}

// ReadGenesis reads and checks a genesis file.
func ReadGenesis(path string) (ledger.Genesis, error) {
	var g ledger.Genesis
	data, err := os.ReadFile(path)
	if err != nil {
		return g, fmt.Errorf("authority: genesis: %w", err)
	}
	if err := json.Unmarshal(data, &g); err != nil {
		return g, fmt.Errorf("%w: genesis %s: %v", ErrInvalid, path, err)
	}
	if err := validateID("space", g.Space); err != nil {
		return g, err
	}
	if len(g.Authority.Keys) == 0 {
		return g, invalid("authority.keys", "the genesis pins no authority key")
	}
	for i, k := range g.Authority.Keys {
		if err := k.Validate(); err != nil {
			return g, invalid(fmt.Sprintf("authority.keys[%d]", i), "%v", err)
		}
	}
	if err := g.CheckSuite(); err != nil {
		return g, fmt.Errorf("%w: genesis %s: %v", ErrInvalid, path, err)
	}
	return g, nil
}

// Genesis is the space's genesis.
func (a *Authority) Genesis() ledger.Genesis { return a.genesis }

// ID is the authority's participant id.
func (a *Authority) ID() string { return a.genesis.Authority.ID }

// Key is the authority's signing key.
func (a *Authority) Key() *identity.Key { return a.key }

// Registration is what the authority records of a new participant.
type Registration struct {
	ID         string
	Name       string
	Key        identity.JWK
	Region     string
	Industry   string
	OrgType    string
	CreditCode string // optional; checked when set
	Member     []string
	// DID is optional: the participant's did:web when it also speaks the
	// Decentralized Claims Protocol (the authority's credentials name it).
	DID string
}

// Validate checks every field, naming the one at fault.
func (r Registration) Validate() error {
	return validateParticipant(identity.Participant{
		ID: r.ID, Name: r.Name, Keys: []identity.JWK{r.Key}, Region: r.Region, Industry: r.Industry,
		OrgType: r.OrgType, CreditCode: r.CreditCode, Member: r.Member, DID: r.DID, Status: identity.StatusActive,
	})
}

func validateParticipant(p identity.Participant) error {
	if err := validateID("id", p.ID); err != nil {
		return err
	}
	if err := validateLabel("name", p.Name, true); err != nil {
		return err
	}
	if len(p.Keys) == 0 {
		return invalid("keys", "a participant needs at least one key")
	}
	for i, k := range p.Keys {
		if err := k.Validate(); err != nil {
			return invalid(fmt.Sprintf("keys[%d]", i), "%v", err)
		}
		if k.Kid == "" {
			return invalid(fmt.Sprintf("keys[%d].kid", i), "required: the key's RFC 7638 thumbprint")
		}
	}
	if err := ValidateRegion(p.Region); err != nil {
		return err
	}
	if err := validateLabel("industry", p.Industry, true); err != nil {
		return err
	}
	if err := validateLabel("orgType", p.OrgType, true); err != nil {
		return err
	}
	if p.CreditCode != "" {
		if err := ValidateCreditCode(p.CreditCode); err != nil {
			return err
		}
	}
	for i, m := range p.Member {
		if err := validateLabel(fmt.Sprintf("member[%d]", i), m, true); err != nil {
			return err
		}
	}
	if p.DID != "" {
		if _, err := dcp.WebURL(p.DID); err != nil {
			return invalid("did", "%v", err)
		}
	}
	if p.Status != identity.StatusActive && p.Status != identity.StatusSuspended {
		return invalid("status", "must be %s or %s, got %q", identity.StatusActive, identity.StatusSuspended, p.Status)
	}
	return nil
}

// record starts a record of kind spoken by the authority.
func (a *Authority) record(kind ledger.Kind, subject string) ledger.Record {
	var b [6]byte
	_, _ = rand.Read(b[:])
	now := a.now()
	return ledger.Record{
		Schema: ledger.SchemaVersion,
		ID:     fmt.Sprintf("%s:%s:%d-%s", kind, subject, now.Unix(), hex.EncodeToString(b[:])),
		Kind:   kind,
		Time:   now.Format(time.RFC3339Nano),
		Actor:  a.ID(),
	}
}

// Register builds the participant.registered record of r.
func (a *Authority) Register(r Registration) (ledger.Record, error) {
	if r.Key.Kid == "" {
		r.Key.Kid, _ = r.Key.Thumbprint()
	}
	if err := r.Validate(); err != nil {
		return ledger.Record{}, err
	}
	if r.ID == a.ID() {
		return ledger.Record{}, invalid("id", "%q is the authority itself, registered at genesis", r.ID)
	}
	if err := a.checkNewKey("key", r.Key); err != nil {
		return ledger.Record{}, err
	}
	rec := a.record(ledger.KindParticipantRegistered, r.ID)
	rec.Participant = &identity.Participant{
		ID: r.ID, Name: r.Name, Keys: []identity.JWK{r.Key}, Region: r.Region, Industry: r.Industry,
		OrgType: r.OrgType, CreditCode: r.CreditCode, Member: r.Member, DID: r.DID, Status: identity.StatusActive,
	}
	return rec, nil
}

// Change is an update to a registered participant; nil fields stay as they are.
type Change struct {
	Name       *string
	Region     *string
	Industry   *string
	OrgType    *string
	CreditCode *string
	Member     *[]string
	// DID sets (or, empty, removes) the participant's did:web.
	DID *string
	// AddKeys registers further keys (key rotation: add the new key, then
	// remove the old one once the participant uses the new one).
	AddKeys []identity.JWK
	// RemoveKeys are kids to remove; at least one key must remain.
	RemoveKeys []string
	// Status, when set, suspends or reinstates the participant.
	Status *string
}

// Update builds the participant.updated record applying c to cur, the
// participant as currently registered (read it from the ledger).
func (a *Authority) Update(cur identity.Participant, c Change) (ledger.Record, error) {
	p := cur
	p.Keys = slices.Clone(cur.Keys)
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.Name, c.Name)
	set(&p.Region, c.Region)
	set(&p.Industry, c.Industry)
	set(&p.OrgType, c.OrgType)
	set(&p.CreditCode, c.CreditCode)
	set(&p.Status, c.Status)
	set(&p.DID, c.DID)
	if c.Member != nil {
		p.Member = *c.Member
	}
	for i, k := range c.AddKeys {
		if k.Kid == "" {
			k.Kid, _ = k.Thumbprint()
		}
		if err := a.checkNewKey(fmt.Sprintf("addKeys[%d]", i), k); err != nil {
			return ledger.Record{}, err
		}
		if !hasKey(p.Keys, k) {
			p.Keys = append(p.Keys, k)
		}
	}
	for _, kid := range c.RemoveKeys {
		i := slices.IndexFunc(p.Keys, func(k identity.JWK) bool { return k.Kid == kid })
		if i < 0 {
			return ledger.Record{}, invalid("removeKeys", "%q is not a key of %s", kid, cur.ID)
		}
		p.Keys = slices.Delete(p.Keys, i, i+1)
	}
	if err := validateParticipant(p); err != nil {
		return ledger.Record{}, err
	}
	if p.ID == a.ID() {
		return ledger.Record{}, invalid("id", "the authority is fixed at genesis and cannot be updated")
	}
	rec := a.record(ledger.KindParticipantUpdated, p.ID)
	rec.Participant = &p
	return rec, nil
}

// notOwnKey refuses k when it is the authority's own key. Whether another
// participant holds k only the ledger knows: it refuses the record by rule
// rulebook.RuleKeyUnique.
// checkNewKey refuses a participant key of another crypto suite than the
// space's (rule suite.key, which the ledger's rulebook enforces again) or the
// authority's own key.
func (a *Authority) checkNewKey(field string, k identity.JWK) error {
	if err := a.genesis.CryptoSuite().CheckAlg(k.Algorithm(), true); err != nil {
		return invalid(field, "%s (rule %s)", suite.Reason(err), suite.RuleKey)
	}
	tp, err := rulebook.KeyThumbprint(k)
	if err != nil {
		return invalid(field, "%v", err)
	}
	if hasKey(a.genesis.Authority.Keys, k) {
		return invalid(field, "key %s is the authority's own key pinned in the genesis of space %q; a key belongs to one participant: give the participant's own public key",
			tp, a.genesis.Space)
	}
	return nil
}

// hasKey reports whether keys hold k's key material, under whatever kid.
func hasKey(keys []identity.JWK, k identity.JWK) bool {
	tp, err := rulebook.KeyThumbprint(k)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(keys, func(x identity.JWK) bool {
		xt, err := rulebook.KeyThumbprint(x)
		return err == nil && xt == tp
	})
}

// Suspend builds the participant.updated record suspending cur: every token
// it signs is refused from the moment verifiers see the record.
func (a *Authority) Suspend(cur identity.Participant) (ledger.Record, error) {
	s := identity.StatusSuspended
	return a.Update(cur, Change{Status: &s})
}

// Reinstate builds the participant.updated record making cur active again.
func (a *Authority) Reinstate(cur identity.Participant) (ledger.Record, error) {
	s := identity.StatusActive
	return a.Update(cur, Change{Status: &s})
}

// SetRules builds the rules.updated record replacing the space-wide rules.
func (a *Authority) SetRules(r policy.SpaceRules) (ledger.Record, error) {
	if err := r.Validate(); err != nil {
		return ledger.Record{}, fmt.Errorf("%w: field rules: %v", ErrInvalid, err)
	}
	rec := a.record(ledger.KindRulesUpdated, a.genesis.Space)
	rec.Rules = &r
	return rec, nil
}

// Batch signs recs as one ledger batch written by the authority.
func (a *Authority) Batch(recs ...ledger.Record) (*ledger.Batch, error) {
	return ledger.NewBatch(a.genesis.Space, a.ID(), a.key, recs)
}

// Appender is what Submit needs of the ledger: its HTTP client or an
// embedded store.
type Appender interface {
	Append(ctx context.Context, b *ledger.Batch) (ledger.Receipt, error)
}

// Submit signs recs as one batch and appends it, returning the receipt.
func (a *Authority) Submit(ctx context.Context, l Appender, recs ...ledger.Record) (ledger.Receipt, error) {
	b, err := a.Batch(recs...)
	if err != nil {
		return ledger.Receipt{}, err
	}
	rc, err := l.Append(ctx, b)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("authority: append to ledger: %w", err)
	}
	return rc, nil
}

// RoleToken issues an auditor or regulator token for subject on the service
// aud (for instance "ledger"), limited to scope, valid for ttl.
func (a *Authority) RoleToken(role, subject, aud string, scope []string, ttl time.Duration) (string, error) {
	if role != identity.RoleAuditor && role != identity.RoleRegulator {
		return "", invalid("role", "the authority issues %s or %s tokens, got %q", identity.RoleAuditor, identity.RoleRegulator, role)
	}
	if err := validateID("subject", subject); err != nil {
		return "", err
	}
	if ttl <= 0 || ttl > MaxRoleTTL {
		return "", invalid("ttl", "%v must be in (0, %v]", ttl, MaxRoleTTL)
	}
	return a.issuer.RoleToken(role, subject, aud, scope, ttl)
}

// MaxRoleTTL is the longest life of an auditor or regulator token.
const MaxRoleTTL = 90 * 24 * time.Hour
