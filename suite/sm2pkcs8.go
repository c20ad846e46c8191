package suite

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
)

// SM2 private keys are kept as PKCS#8 (RFC 5208) holding an RFC 5915
// ECPrivateKey, the algorithm id-ecPublicKey with the SM2 curve
// (GM/T 0006: 1.2.156.10197.1.301) as its parameter — the form OpenSSL 3,
// Tongsuo and gmsm's smx509 write and read. It is written here with
// encoding/asn1 rather than with smx509 because smx509 links the testing
// package into any binary that imports it (its internal_testenv.go), and
// the tdsc binary links no test code.
var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidSM2Curve    = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 301}
)

type pkcs8Info struct {
	Version    int
	Algo       pkix.AlgorithmIdentifier
	PrivateKey []byte
}

type ecPrivateKey struct {
	Version       int
	PrivateKey    []byte
	NamedCurveOID asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
	PublicKey     asn1.BitString        `asn1:"optional,explicit,tag:1"`
}

// MarshalSM2PKCS8 encodes an SM2 private key as PKCS#8 DER.
func MarshalSM2PKCS8(priv *sm2.PrivateKey) ([]byte, error) {
	e, err := priv.ECDH()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSM2Key, err)
	}
	params, err := asn1.Marshal(oidSM2Curve)
	if err != nil {
		return nil, err
	}
	pub := e.PublicKey().Bytes()
	inner, err := asn1.Marshal(ecPrivateKey{Version: 1, PrivateKey: e.Bytes(),
		PublicKey: asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}})
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(pkcs8Info{Algo: pkix.AlgorithmIdentifier{Algorithm: oidECPublicKey,
		Parameters: asn1.RawValue{FullBytes: params}}, PrivateKey: inner})
}

// ParseSM2PKCS8 decodes a PKCS#8 DER SM2 private key. A key on another
// curve, trailing bytes, or a stated public key that does not belong to the
// private scalar are refused.
func ParseSM2PKCS8(der []byte) (*sm2.PrivateKey, error) {
	var info pkcs8Info
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: not a PKCS#8 private key", ErrSM2Key)
	}
	var curve asn1.ObjectIdentifier
	if !info.Algo.Algorithm.Equal(oidECPublicKey) {
		return nil, fmt.Errorf("%w: algorithm %v is not id-ecPublicKey", ErrSM2Key, info.Algo.Algorithm)
	}
	if rest, err := asn1.Unmarshal(info.Algo.Parameters.FullBytes, &curve); err != nil || len(rest) != 0 || !curve.Equal(oidSM2Curve) {
		return nil, fmt.Errorf("%w: curve %v is not SM2 (%v)", ErrSM2Key, curve, oidSM2Curve)
	}
	var ec ecPrivateKey
	if rest, err := asn1.Unmarshal(info.PrivateKey, &ec); err != nil || len(rest) != 0 || ec.Version != 1 {
		return nil, fmt.Errorf("%w: not an RFC 5915 EC private key", ErrSM2Key)
	}
	if len(ec.NamedCurveOID) > 0 && !ec.NamedCurveOID.Equal(oidSM2Curve) {
		return nil, fmt.Errorf("%w: inner curve %v is not SM2", ErrSM2Key, ec.NamedCurveOID)
	}
	d := ec.PrivateKey
	if len(d) > 32 {
		return nil, fmt.Errorf("%w: private scalar of %d bytes", ErrSM2Key, len(d))
	}
	d = append(make([]byte, 32-len(d)), d...)
	priv, err := sm2.NewPrivateKey(d)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSM2Key, err)
	}
	if len(ec.PublicKey.Bytes) > 0 {
		e, err := priv.ECDH()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSM2Key, err)
		}
		if string(e.PublicKey().Bytes()) != string(ec.PublicKey.Bytes) {
			return nil, fmt.Errorf("%w: the stated public key does not belong to the private key", ErrSM2Key)
		}
	}
	return priv, nil
}
