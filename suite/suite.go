package suite

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"slices"

	"github.com/emmansun/gmsm/sm3"
	"github.com/transparency-dev/merkle"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Suite names, as written in a genesis.
const (
	NameIntl = "intl"
	NameGM   = "gm"
)

// JWS algorithms. AlgSM2 is tdsc's name for SM2 signatures over SM3 with
// the GM/T 0009 default user id, signature r||s (64 bytes) as JWS encodes
// ES256 (RFC 7518 §3.4). There is no IANA registration; "SM3withSM2" is the
// JCA signature name the Java stacks of Chinese deployments give exactly this
// algorithm (BouncyCastle, openEuler's BGMProvider; Tencent Kona), so tokens
// say what a verifier on the other side already calls it. See
// docs/security.md.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgSM2   = "SM3withSM2"
)

// Hash names, as they prefix content hashes ("sm3:<hex>") and name the
// Repr-Digest algorithm.
const (
	HashSHA256 = "sha256"
	HashSM3    = "sm3"
)

// Rules named in refusals of a mixed suite.
const (
	// RuleKey refuses a key whose type is not the space's suite's.
	RuleKey = "suite.key"
	// RuleHash refuses a hash of an algorithm other than the suite's.
	RuleHash = "suite.hash"
	// RuleAlg refuses a token whose alg is not the suite's.
	RuleAlg = "suite.alg"
)

// ErrUnknown reports a suite name that is neither intl nor gm (the message
// names the field where it is wrapped). Fix the
// genesis or the --suite flag.
var ErrUnknown = errors.New("unknown crypto suite")

// Suite is one crypto suite. The two values are Intl and GM; compare by
// pointer or Name.
type Suite struct {
	name   string
	hash   string
	newH   func() hash.Hash
	merkle merkle.LogHasher
	algs   []string
}

// Intl is Ed25519/ES256 with SHA-256.
var Intl = &Suite{name: NameIntl, hash: HashSHA256, newH: sha256.New, merkle: rfc6962.DefaultHasher, algs: []string{AlgEdDSA, AlgES256}}

// GM is SM2 with SM3.
var GM = &Suite{name: NameGM, hash: HashSM3, newH: sm3.New, merkle: SM3Hasher, algs: []string{AlgSM2}}

// Lookup returns the suite called name; "" is Intl, what a genesis written
// before suites existed means.
func Lookup(name string) (*Suite, error) {
	switch name {
	case "", NameIntl:
		return Intl, nil
	case NameGM:
		return GM, nil
	}
	return nil, fmt.Errorf("%w %q: must be %q or %q", ErrUnknown, name, NameIntl, NameGM)
}

// Must is Lookup for names already validated; an unknown name is Intl's
// caller's bug, so it panics.
func Must(name string) *Suite {
	s, err := Lookup(name)
	if err != nil {
		panic(err)
	}
	return s
}

// Name is "intl" or "gm".
func (s *Suite) Name() string { return s.name }

// String is the name.
func (s *Suite) String() string { return s.name }

// HashName is "sha256" or "sm3": the prefix of content hashes and the
// Repr-Digest algorithm.
func (s *Suite) HashName() string { return s.hash }

// NewHash returns a new SHA-256 or SM3 hash.
func (s *Suite) NewHash() hash.Hash { return s.newH() }

// Sum is the suite's hash of b.
func (s *Suite) Sum(b []byte) []byte {
	if s == GM {
		d := sm3.Sum(b)
		return d[:]
	}
	d := sha256.Sum256(b)
	return d[:]
}

// Merkle is the RFC 6962 tree hasher over the suite's hash.
func (s *Suite) Merkle() merkle.LogHasher { return s.merkle }

// Algorithms are the JWS algorithms the suite's keys sign with.
func (s *Suite) Algorithms() []string { return slices.Clone(s.algs) }

// AllowsAlg reports whether alg is one of the suite's JWS algorithms.
func (s *Suite) AllowsAlg(alg string) bool { return slices.Contains(s.algs, alg) }

// CheckAlg refuses a key or token algorithm outside the suite, naming RuleAlg
// (or RuleKey for a key's algorithm, when key is true).
func (s *Suite) CheckAlg(alg string, key bool) error {
	if s.AllowsAlg(alg) {
		return nil
	}
	rule, what := RuleAlg, "token alg"
	if key {
		rule, what = RuleKey, "key algorithm"
	}
	return &MixError{Rule: rule, Suite: s.name, Got: alg, Want: s.algs, What: what}
}

// CheckHashName refuses a hash algorithm name other than the suite's.
func (s *Suite) CheckHashName(alg string) error {
	if alg == s.hash {
		return nil
	}
	return &MixError{Rule: RuleHash, Suite: s.name, Got: alg, Want: []string{s.hash}, What: "hash algorithm"}
}

// MixError is a refusal of something from the other suite: an Ed25519 key in
// a gm space, a SHA-256 content hash, an ES256 token. Rule names the rule.
type MixError struct {
	Rule  string
	Suite string
	What  string
	Got   string
	Want  []string
}

func (e *MixError) Error() string { return e.Rule + ": " + e.Reason() }

// Reason is the message without the rule, for errors that print the rule
// themselves.
func (e *MixError) Reason() string {
	return fmt.Sprintf("this space's suite is %s: %s %q is not allowed, want %v", e.Suite, e.What, e.Got, e.Want)
}

// Reason is err's reason without the rule when err is a *MixError, else err's message.
func Reason(err error) string {
	var me *MixError
	if errors.As(err, &me) {
		return me.Reason()
	}
	return err.Error()
}

// ErrMixed is what every *MixError matches with errors.Is: the input belongs
// to another crypto suite than the space's; it cannot be accepted.
var ErrMixed = errors.New("suite: mixed crypto suites")

// Is makes errors.Is(err, ErrMixed) true.
func (e *MixError) Is(target error) bool { return target == ErrMixed }
