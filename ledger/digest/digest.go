// Package digest is the content hash of a dataset as tdsc writes, registers
// and compares it: one type, one parser. The ledger's dataset.registered and
// transfer.completed records carry it as "sha256:<hex>"; the data plane sends
// it as an RFC 9530 Repr-Digest ("sha-256=:<base64>:"); operators may type
// bare hex. Every form is read by Parse.
//
// The algorithms are a table (algorithms): SHA-256 for a space of the intl
// suite, SM3 ("sm3:<hex>", Repr-Digest "sm3=:<base64>:") for a gm space. Which
// one a space uses is its suite's (package suite); the names are the suite's
// HashName.
package digest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/emmansun/gmsm/sm3"
)

// Algorithm names, as in "sha256:<hex>" and "sm3:<hex>" (suite.HashSHA256,
// suite.HashSM3).
const (
	SHA256 = "sha256"
	SM3    = "sm3"
)

// algorithm is one hash function a content hash may use.
type algorithm struct {
	name string // in "name:<hex>", lower case
	http string // in an RFC 9530 Repr-Digest, lower case
	size int    // bytes of a sum
	new  func() hash.Hash
}

// SM3 has no entry in the IANA Hash Algorithms for HTTP Digest Fields
// registry; "sm3" is the name tdsc sends and reads in Repr-Digest.
var algorithms = []algorithm{
	{name: SHA256, http: "sha-256", size: sha256.Size, new: sha256.New},
	{name: SM3, http: "sm3", size: sm3.Size, new: sm3.New},
}

// NewHash is a new hash of algorithm alg ("sha256" or "sm3"); nil for an
// unknown name.
func NewHash(alg string) hash.Hash {
	if a, ok := lookup(alg); ok {
		return a.new()
	}
	return nil
}

// Of is the alg digest of data (alg "sha256" or "sm3"); the zero Digest for
// an unknown algorithm.
func Of(alg string, data []byte) Digest {
	a, ok := lookup(alg)
	if !ok {
		return Digest{}
	}
	h := a.new()
	h.Write(data)
	return Digest{alg: a.name, sum: string(h.Sum(nil))}
}

func lookup(name string) (algorithm, bool) {
	for _, a := range algorithms {
		if strings.EqualFold(name, a.name) || strings.EqualFold(name, a.http) {
			return a, true
		}
	}
	return algorithm{}, false
}

// ErrInvalid reports a content hash that does not parse: an unknown
// algorithm, bad hex or base64, or a sum of the wrong length. The message
// says which; fix the value and resend.
var ErrInvalid = errors.New("digest: invalid content hash")

// Digest is a content hash: an algorithm and its sum. The zero Digest is "no
// hash". Digests are comparable with ==.
type Digest struct {
	alg string
	sum string // the raw sum
}

// New is the digest of alg (a name Parse accepts) with sum.
func New(alg string, sum []byte) (Digest, error) {
	a, ok := lookup(alg)
	if !ok {
		return Digest{}, fmt.Errorf("%w: unknown algorithm %q", ErrInvalid, alg)
	}
	if len(sum) != a.size {
		return Digest{}, fmt.Errorf("%w: a %s sum is %d bytes, got %d", ErrInvalid, a.name, a.size, len(sum))
	}
	return Digest{alg: a.name, sum: string(sum)}, nil
}

// OfSHA256 is the SHA-256 digest of data.
func OfSHA256(data []byte) Digest {
	s := sha256.Sum256(data)
	return Digest{alg: SHA256, sum: string(s[:])}
}

// Parse reads a content hash: "sha256:<hex>" (also "sha-256:<hex>", any
// case), an RFC 9530 member "sha-256=:<base64>:", or bare hex of a SHA-256.
func Parse(s string) (Digest, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Digest{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	name, val, ok := strings.Cut(s, ":")
	if !ok {
		name, val = SHA256, s
	}
	if n, b64, ok := strings.Cut(name, "="); ok && b64 == "" {
		// RFC 9530: sha-256=:<base64>:
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(val, ":"))
		if err != nil || !strings.HasSuffix(val, ":") {
			return Digest{}, fmt.Errorf("%w: %q: not an RFC 9530 byte sequence", ErrInvalid, s)
		}
		return New(n, raw)
	}
	raw, err := hex.DecodeString(val)
	if err != nil {
		return Digest{}, fmt.Errorf("%w: %q: not hex", ErrInvalid, s)
	}
	return New(name, raw)
}

// ParseReprDigest reads an RFC 9530 Repr-Digest header value and returns its
// first member of a known algorithm; ok is false when there is none.
func ParseReprDigest(header string) (d Digest, ok bool) {
	for _, item := range strings.Split(header, ",") {
		item = strings.TrimSpace(item)
		if !strings.Contains(item, "=:") {
			continue
		}
		if d, err := Parse(item); err == nil {
			return d, true
		}
	}
	return Digest{}, false
}

// IsZero reports whether d is no hash.
func (d Digest) IsZero() bool { return d.alg == "" }

// Algorithm is d's algorithm name ("sha256").
func (d Digest) Algorithm() string { return d.alg }

// Sum is d's raw sum.
func (d Digest) Sum() []byte { return []byte(d.sum) }

// Hex is d's sum in lower-case hex.
func (d Digest) Hex() string { return hex.EncodeToString([]byte(d.sum)) }

// String is d as the ledger records it: "sha256:<hex>"; "" for no hash.
func (d Digest) String() string {
	if d.IsZero() {
		return ""
	}
	return d.alg + ":" + d.Hex()
}

// ReprDigest is d as an RFC 9530 Repr-Digest member: "sha-256=:<base64>:".
func (d Digest) ReprDigest() string {
	a, ok := lookup(d.alg)
	if !ok {
		return ""
	}
	return a.http + "=:" + base64.StdEncoding.EncodeToString([]byte(d.sum)) + ":"
}

// SHA256Hex is the hex of s when s is a SHA-256 content hash in any form
// Parse reads, and "" for an empty s. Any other value comes back trimmed and
// lower-cased, so that it equals no SHA-256 hex: a malformed hash, or one of
// another algorithm, compared with a SHA-256 sum is a mismatch, never "no
// hash registered".
func SHA256Hex(s string) string { return Hex(SHA256, s) }

// Hex is SHA256Hex for algorithm alg: the hex of s when s is an alg content
// hash in any form Parse reads, "" for an empty s, and otherwise s trimmed and
// lower-cased, equal to no alg hex (a SHA-256 hash in a gm space is a
// mismatch, never "no hash registered").
func Hex(alg, s string) string {
	d, err := Parse(s)
	if err == nil && d.alg == alg {
		return d.Hex()
	}
	return strings.ToLower(strings.TrimSpace(s))
}
