package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"

	"github.com/emmansun/gmsm/sm3"

	"github.com/tdsc/tdsc/suite"
)

// JWK is a public JSON Web Key (RFC 7517) as registered on the ledger and served
// as JWKS. Only Ed25519 (kty OKP, crv Ed25519), P-256 (kty EC, crv P-256, ES256)
// and, in a gm space, SM2 (kty EC, crv SM2, alg SM3withSM2: the form Chinese DID
// methods give SM2VerificationKey2022 keys) keys are accepted; everything else
// is refused by Validate. Which of them a space allows is its suite's choice
// (package suite), checked by the rulebook.
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// ErrBadKey reports a JWK that is malformed or of an unsupported type. Callers
// should refuse the key and show the message, which names the field at fault.
var ErrBadKey = errors.New("identity: bad key")

// Validate checks the key's fields and that its kid, when set, is its RFC 7638 thumbprint.
func (k JWK) Validate() error {
	if _, err := k.PublicKey(); err != nil {
		return err
	}
	if k.Kid != "" {
		tp, _ := k.Thumbprint()
		if k.Kid != tp {
			return fmt.Errorf("%w: field kid: must be the RFC 7638 thumbprint %q, got %q", ErrBadKey, tp, k.Kid)
		}
	}
	return nil
}

// Algorithm is the JWS algorithm this key verifies: EdDSA, ES256 or SM3withSM2.
func (k JWK) Algorithm() string {
	switch {
	case k.Kty == "EC" && k.Crv == crvSM2:
		return suite.AlgSM2
	case k.Kty == "EC":
		return suite.AlgES256
	}
	return suite.AlgEdDSA
}

// Suite is the crypto suite the key belongs to: GM for SM2 keys, Intl otherwise.
func (k JWK) Suite() *suite.Suite {
	if k.Kty == "EC" && k.Crv == crvSM2 {
		return suite.GM
	}
	return suite.Intl
}

// crvSM2 is the JWK crv of SM2 keys (kty EC), as Chinese DID methods write it.
const crvSM2 = "SM2"

// Thumbprint is the RFC 7638 thumbprint, base64url without padding: SHA-256
// for Ed25519 and P-256 keys, SM3 for SM2 keys (RFC 7638 §3.4 leaves the hash
// to the application; an SM2 key only lives in a gm space, where every hash is
// SM3).
func (k JWK) Thumbprint() (string, error) {
	var canon string
	switch k.Kty {
	case "OKP":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, k.Crv, k.X)
	case "EC":
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, k.Crv, k.X, k.Y)
	default:
		return "", fmt.Errorf("%w: field kty: must be OKP or EC, got %q", ErrBadKey, k.Kty)
	}
	var sum [32]byte
	if k.Kty == "EC" && k.Crv == crvSM2 {
		sum = sm3.Sum([]byte(canon))
	} else {
		sum = sha256.Sum256([]byte(canon))
	}
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// PublicKey decodes the key: ed25519.PublicKey, or *ecdsa.PublicKey on P-256 or SM2.
func (k JWK) PublicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "OKP":
		if k.Crv != "Ed25519" {
			return nil, fmt.Errorf("%w: field crv: OKP keys must be Ed25519, got %q", ErrBadKey, k.Crv)
		}
		x, err := DecodeBase64URL(k.X)
		if err != nil || len(x) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: field x: must be %d bytes in canonical base64url (no padding, no line breaks)", ErrBadKey, ed25519.PublicKeySize)
		}
		return ed25519.PublicKey(x), nil
	case "EC":
		if k.Crv != "P-256" && k.Crv != crvSM2 {
			return nil, fmt.Errorf("%w: field crv: EC keys must be P-256 or SM2, got %q", ErrBadKey, k.Crv)
		}
		x, errX := DecodeBase64URL(k.X)
		y, errY := DecodeBase64URL(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("%w: fields x, y: must be 32 bytes each in canonical base64url (no padding, no line breaks)", ErrBadKey)
		}
		if k.Crv == crvSM2 {
			pub, err := suite.SM2PublicKey(x, y)
			if err != nil {
				return nil, fmt.Errorf("%w: fields x, y: point is not on SM2", ErrBadKey)
			}
			return pub, nil
		}
		// SEC 1 uncompressed form; the parser refuses a point not on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("%w: fields x, y: point is not on P-256", ErrBadKey)
		}
		return pub, nil
	default:
		return nil, fmt.Errorf("%w: field kty: must be OKP or EC, got %q", ErrBadKey, k.Kty)
	}
}

// VerifyDetached checks sig over msg with this key. Ed25519 signatures are 64
// bytes; ES256 signatures are r||s, 64 bytes, over SHA-256(msg); SM2
// signatures are r||s, 64 bytes, over SM3(ZA || msg) (GB/T 32918.2).
func (k JWK) VerifyDetached(msg, sig []byte) error {
	pub, err := k.PublicKey()
	if err != nil {
		return err
	}
	switch p := pub.(type) {
	case ed25519.PublicKey:
		if !ed25519.Verify(p, msg, sig) {
			return ErrBadSignature
		}
	case *ecdsa.PublicKey:
		if suite.IsSM2(p) {
			if !suite.VerifySM2(p, msg, sig) {
				return ErrBadSignature
			}
			return nil
		}
		if len(sig) != 64 {
			return ErrBadSignature
		}
		h := sha256.Sum256(msg)
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		if !ecdsa.Verify(p, h[:], r, s) {
			return ErrBadSignature
		}
	}
	return nil
}

// ErrBadSignature reports a signature that does not verify under the registered
// key: the signed content was altered or signed by someone else. Refuse it.
var ErrBadSignature = errors.New("identity: signature does not verify")

// NewJWK builds the public JWK of pub with its kid set to the thumbprint.
func NewJWK(pub crypto.PublicKey) (JWK, error) {
	var k JWK
	switch p := pub.(type) {
	case ed25519.PublicKey:
		k = JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(p), Alg: "EdDSA", Use: "sig"}
	case *ecdsa.PublicKey:
		if suite.IsSM2(p) {
			x, y := suite.SM2Coordinates(p)
			k = JWK{Kty: "EC", Crv: crvSM2, X: base64.RawURLEncoding.EncodeToString(x), Y: base64.RawURLEncoding.EncodeToString(y), Alg: suite.AlgSM2, Use: "sig"}
			break
		}
		if p.Curve != elliptic.P256() {
			return JWK{}, fmt.Errorf("%w: only P-256 ECDSA and SM2 keys are supported", ErrBadKey)
		}
		b, err := p.Bytes() // SEC 1 uncompressed: 0x04 || x || y
		if err != nil {
			return JWK{}, fmt.Errorf("%w: %v", ErrBadKey, err)
		}
		x, y := b[1:33], b[33:]
		k = JWK{Kty: "EC", Crv: "P-256", X: base64.RawURLEncoding.EncodeToString(x), Y: base64.RawURLEncoding.EncodeToString(y), Alg: "ES256", Use: "sig"}
	default:
		return JWK{}, fmt.Errorf("%w: unsupported key type %T", ErrBadKey, pub)
	}
	kid, err := k.Thumbprint()
	if err != nil {
		return JWK{}, err
	}
	k.Kid = kid
	return k, nil
}
