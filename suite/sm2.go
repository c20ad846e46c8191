package suite

import (
	"crypto/ecdsa"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"github.com/emmansun/gmsm/sm2"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// SM2SignatureSize is the length of an SM2 signature as tdsc carries it:
// r || s, 32 bytes each, big-endian (as JWS carries ES256, RFC 7518 §3.4).
const SM2SignatureSize = 64

// ErrSM2Key reports SM2 key bytes that are not a point on the SM2 curve or
// not a valid private scalar.
var ErrSM2Key = errors.New("suite: bad SM2 key")

// GenerateSM2 makes a new SM2 key pair.
func GenerateSM2() (*sm2.PrivateKey, error) { return sm2.GenerateKey(rand.Reader) }

// SM2PublicKey decodes the coordinates x, y (32 bytes each) into an SM2
// public key, refusing a point not on the curve.
func SM2PublicKey(x, y []byte) (*ecdsa.PublicKey, error) {
	if len(x) != 32 || len(y) != 32 {
		return nil, fmt.Errorf("%w: coordinates must be 32 bytes each, got %d and %d", ErrSM2Key, len(x), len(y))
	}
	pt := make([]byte, 0, 65)
	pt = append(append(append(pt, 4), x...), y...)
	pub, err := sm2.NewPublicKey(pt)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSM2Key, err)
	}
	return pub, nil
}

// SM2Coordinates are pub's x and y, 32 bytes each, read from its
// uncompressed point (gmsm's ECDH form; ecdsa.PublicKey.Bytes does not know
// the SM2 curve, and its X and Y fields are deprecated). A key that is not a
// valid SM2 point gives nil, nil.
func SM2Coordinates(pub *ecdsa.PublicKey) (x, y []byte) {
	e, err := sm2.PublicKeyToECDH(pub)
	if err != nil {
		return nil, nil
	}
	pt := e.Bytes() // 0x04 || x || y
	return pt[1:33], pt[33:65]
}

// IsSM2 reports whether pub is an SM2 public key.
func IsSM2(pub any) bool { return sm2.IsSM2PublicKey(pub) }

// SignSM2 signs msg per GB/T 32918.2: e = SM3(ZA || msg) with the default
// user id, returning r || s.
func SignSM2(priv *sm2.PrivateKey, msg []byte) ([]byte, error) {
	return signSM2(rand.Reader, priv, msg)
}

// SignSM2Deterministic is SignSM2 with the nonce derived from the key and
// the message (RFC 6979 with HMAC-SM3, gmsm's SignDeterministic): the same
// message always gets the same signature, as with Ed25519. Checkpoint notes
// use it, so a ledger that signs a tree head on demand serves the same note
// every time.
func SignSM2Deterministic(priv *sm2.PrivateKey, msg []byte) ([]byte, error) {
	der, err := sm2.SignDeterministic(priv, msg, sm2.DefaultSM2SignerOpts)
	if err != nil {
		return nil, err
	}
	return derToRS(der)
}

func signSM2(rnd io.Reader, priv *sm2.PrivateKey, msg []byte) ([]byte, error) {
	der, err := priv.SignWithSM2(rnd, nil, msg)
	if err != nil {
		return nil, err
	}
	return derToRS(der)
}

// VerifySM2 checks the r || s signature sig over msg under pub (default
// user id). Anything but 64 bytes fails.
func VerifySM2(pub *ecdsa.PublicKey, msg, sig []byte) bool {
	if len(sig) != SM2SignatureSize {
		return false
	}
	der, err := rsToDER(sig)
	if err != nil {
		return false
	}
	return sm2.VerifyASN1WithSM2(pub, nil, msg, der)
}

func derToRS(der []byte) ([]byte, error) {
	var r, s []byte
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("suite: SM2 signature is not ASN.1 r, s")
	}
	// ReadASN1Integer into []byte gives the big-endian magnitude; strip a sign byte.
	out := make([]byte, SM2SignatureSize)
	for i, v := range [][]byte{r, s} {
		for len(v) > 32 && v[0] == 0 {
			v = v[1:]
		}
		if len(v) > 32 {
			return nil, errors.New("suite: SM2 signature integer longer than 32 bytes")
		}
		copy(out[32*i+32-len(v):32*i+32], v)
	}
	return out, nil
}

func rsToDER(sig []byte) ([]byte, error) {
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, v := range [][]byte{sig[:32], sig[32:]} {
			for len(v) > 0 && v[0] == 0 {
				v = v[1:]
			}
			if len(v) == 0 {
				b.SetError(errors.New("zero integer"))
				return
			}
			b.AddASN1(asn1.INTEGER, func(c *cryptobyte.Builder) {
				if v[0]&0x80 != 0 {
					c.AddUint8(0)
				}
				c.AddBytes(v)
			})
		}
	})
	return b.Bytes()
}
