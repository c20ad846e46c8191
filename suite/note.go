package suite

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"golang.org/x/mod/sumdb/note"
)

// noteSM2Type is the C2SP signed-note signature type of an SM2 checkpoint
// key: 0xff ("reserved for signature types without an identifier byte
// assigned", c2sp.org/signed-note) followed by a longer identifier, as the
// spec recommends. The public key that follows is the uncompressed point
// 04 || X || Y (65 bytes); a signature is r || s (64 bytes) over the note
// text per GB/T 32918.2 with the default user id, its nonce derived
// deterministically (SignSM2Deterministic). The key id is the first
// four bytes of SM3(name || 0x0A || type || public key): the spec's recipe
// with the suite's hash, so a gm space computes no SHA-256 at all.
var noteSM2Type = append([]byte{0xff}, "tdsc-sm2-sm3"...)

// ErrNoteKey reports a checkpoint signing or verifier key that cannot be
// parsed. Check the ledger's key files.
var ErrNoteKey = errors.New("suite: bad checkpoint key")

// GenerateNoteKey makes a checkpoint signing key and its verifier key for
// the log origin, of the suite's type: Ed25519 (type 0x01) for intl, SM2
// for gm. The strings are in golang.org/x/mod/sumdb/note's layout.
func (s *Suite) GenerateNoteKey(origin string) (skey, vkey string, err error) {
	if s != GM {
		return note.GenerateKey(rand.Reader, origin)
	}
	if !validName(origin) {
		return "", "", fmt.Errorf("%w: invalid origin %q", ErrNoteKey, origin)
	}
	priv, err := GenerateSM2()
	if err != nil {
		return "", "", err
	}
	pub := pointBytes(&priv.PublicKey)
	h := noteKeyHash(origin, pub)
	d := make([]byte, 32)
	priv.D.FillBytes(d)
	skey = fmt.Sprintf("PRIVATE+KEY+%s+%08x+%s", origin, h, base64.StdEncoding.EncodeToString(append(bytes.Clone(noteSM2Type), d...)))
	vkey = fmt.Sprintf("%s+%08x+%s", origin, h, base64.StdEncoding.EncodeToString(append(bytes.Clone(noteSM2Type), pub...)))
	return skey, vkey, nil
}

// NoteKeySuite tells which suite a checkpoint verifier (or signing) key
// belongs to, so a ledger can refuse a key of the other suite.
func NoteKeySuite(key string) (*Suite, error) {
	key = strings.TrimPrefix(key, "PRIVATE+KEY+")
	_, _, raw, err := splitKey(key)
	if err != nil {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(raw, noteSM2Type):
		return GM, nil
	case len(raw) > 0 && raw[0] == 1:
		return Intl, nil
	}
	return nil, fmt.Errorf("%w: unknown key type", ErrNoteKey)
}

// NewNoteSigner parses a signing key made by GenerateNoteKey, of either suite.
func NewNoteSigner(skey string) (note.Signer, error) {
	rest, ok := strings.CutPrefix(skey, "PRIVATE+KEY+")
	if !ok {
		return nil, fmt.Errorf("%w: signing key must start PRIVATE+KEY+", ErrNoteKey)
	}
	name, h, raw, err := splitKey(rest)
	if err != nil {
		return nil, err
	}
	d, isSM2 := bytes.CutPrefix(raw, noteSM2Type)
	if !isSM2 {
		s, err := note.NewSigner(skey)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoteKey, err)
		}
		return s, nil
	}
	if len(d) != 32 {
		return nil, fmt.Errorf("%w: SM2 private key must be 32 bytes", ErrNoteKey)
	}
	priv, err := sm2.NewPrivateKey(d)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoteKey, err)
	}
	if noteKeyHash(name, pointBytes(&priv.PublicKey)) != h {
		return nil, fmt.Errorf("%w: key hash does not match the key", ErrNoteKey)
	}
	return &sm2NoteSigner{name: name, hash: h, priv: priv}, nil
}

// NewNoteVerifier parses a verifier key of either suite.
func NewNoteVerifier(vkey string) (note.Verifier, error) {
	name, h, raw, err := splitKey(vkey)
	if err != nil {
		return nil, err
	}
	pt, isSM2 := bytes.CutPrefix(raw, noteSM2Type)
	if !isSM2 {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoteKey, err)
		}
		return v, nil
	}
	pub, err := sm2.NewPublicKey(pt)
	if err != nil || len(pt) != 65 {
		return nil, fmt.Errorf("%w: SM2 public key must be an uncompressed point on the curve", ErrNoteKey)
	}
	if noteKeyHash(name, pt) != h {
		return nil, fmt.Errorf("%w: key hash does not match the key", ErrNoteKey)
	}
	return &sm2NoteVerifier{name: name, hash: h, pub: pub}, nil
}

type sm2NoteSigner struct {
	name string
	hash uint32
	priv *sm2.PrivateKey
}

func (s *sm2NoteSigner) Name() string                    { return s.name }
func (s *sm2NoteSigner) KeyHash() uint32                 { return s.hash }
func (s *sm2NoteSigner) Sign(msg []byte) ([]byte, error) { return SignSM2Deterministic(s.priv, msg) }

type sm2NoteVerifier struct {
	name string
	hash uint32
	pub  *ecdsa.PublicKey
}

func (v *sm2NoteVerifier) Name() string                { return v.name }
func (v *sm2NoteVerifier) KeyHash() uint32             { return v.hash }
func (v *sm2NoteVerifier) Verify(msg, sig []byte) bool { return VerifySM2(v.pub, msg, sig) }

func pointBytes(pub *ecdsa.PublicKey) []byte {
	x, y := SM2Coordinates(pub)
	return append(append([]byte{4}, x...), y...)
}

func noteKeyHash(name string, pub []byte) uint32 {
	h := sm3.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(noteSM2Type)
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// splitKey splits "name+hash+base64" (the layout of x/mod/sumdb/note keys).
func splitKey(key string) (name string, hash uint32, raw []byte, err error) {
	name, rest, ok1 := strings.Cut(key, "+")
	h16, b64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || !validName(name) || len(h16) != 8 {
		return "", 0, nil, fmt.Errorf("%w: must be name+hash+key", ErrNoteKey)
	}
	h, err1 := strconv.ParseUint(h16, 16, 32)
	raw, err2 := base64.StdEncoding.DecodeString(b64)
	if err1 != nil || err2 != nil || len(raw) == 0 {
		return "", 0, nil, fmt.Errorf("%w: hash must be 8 hex digits and the key standard base64", ErrNoteKey)
	}
	return name, uint32(h), raw, nil
}

// validName is note's rule: non-empty UTF-8, no spaces or '+'.
func validName(name string) bool {
	if name == "" || !utf8.ValidString(name) || strings.ContainsRune(name, '+') {
		return false
	}
	return strings.IndexFunc(name, unicode.IsSpace) < 0
}

// OfNoteVerifier is the suite whose checkpoints v verifies: GM for an SM2
// checkpoint key, Intl otherwise. A ledger's checkpoint key is of its
// space's suite (the ledgers refuse any other), so a proof checked against a
// checkpoint key is hashed with that key's suite.
func OfNoteVerifier(v note.Verifier) *Suite {
	if _, ok := v.(*sm2NoteVerifier); ok {
		return GM
	}
	return Intl
}

// NoteVerifierKey derives the verifier key of an SM2 checkpoint signing key
// made by GenerateNoteKey.
func NoteVerifierKey(skey string) (string, error) {
	s, err := NewNoteSigner(skey)
	if err != nil {
		return "", err
	}
	sm, ok := s.(*sm2NoteSigner)
	if !ok {
		return "", fmt.Errorf("%w: not an SM2 checkpoint key", ErrNoteKey)
	}
	pt := append(bytes.Clone(noteSM2Type), pointBytes(&sm.priv.PublicKey)...)
	return fmt.Sprintf("%s+%08x+%s", sm.name, sm.hash, base64.StdEncoding.EncodeToString(pt)), nil
}
