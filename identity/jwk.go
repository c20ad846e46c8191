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
)

// JWK is a public JSON Web Key (RFC 7517) as registered on the ledger and served
// as JWKS. Only Ed25519 (kty OKP, crv Ed25519) and P-256 (kty EC, crv P-256, ES256)
// keys are accepted; everything else is refused by Validate.
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

// Algorithm is the JWS algorithm this key verifies: EdDSA or ES256.
func (k JWK) Algorithm() string {
	if k.Kty == "EC" {
		return "ES256"
	}
	return "EdDSA"
}

// Thumbprint is the RFC 7638 SHA-256 thumbprint, base64url without padding.
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
	sum := sha256.Sum256([]byte(canon))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// PublicKey decodes the key: ed25519.PublicKey or *ecdsa.PublicKey.
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
		if k.Crv != "P-256" {
			return nil, fmt.Errorf("%w: field crv: EC keys must be P-256, got %q", ErrBadKey, k.Crv)
		}
		x, errX := DecodeBase64URL(k.X)
		y, errY := DecodeBase64URL(k.Y)
		if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
			return nil, fmt.Errorf("%w: fields x, y: must be 32 bytes each in canonical base64url (no padding, no line breaks)", ErrBadKey)
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
// bytes; ES256 signatures are r||s, 64 bytes, over SHA-256(msg).
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
		if p.Curve != elliptic.P256() {
			return JWK{}, fmt.Errorf("%w: only P-256 ECDSA keys are supported", ErrBadKey)
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
