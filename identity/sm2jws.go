package identity

import (
	"crypto/ecdsa"
	"fmt"

	"github.com/emmansun/gmsm/sm2"
	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/suite"
)

// SigningMethodSM2 is the golang-jwt signing method of alg "SM3withSM2":
// SM2 over SM3(ZA || signing input) with the GM/T 0009 default user id, the
// signature r||s (64 bytes) as RFC 7518 §3.4 lays out ES256. It is registered
// with golang-jwt at init, so jwt.GetSigningMethod finds it; verifiers accept
// it only where the space's suite is gm (WithSuite).
var SigningMethodSM2 jwt.SigningMethod = signingMethodSM2{}

func init() {
	jwt.RegisterSigningMethod(suite.AlgSM2, func() jwt.SigningMethod { return SigningMethodSM2 })
}

type signingMethodSM2 struct{}

func (signingMethodSM2) Alg() string { return suite.AlgSM2 }

// Sign takes an *sm2.PrivateKey.
func (signingMethodSM2) Sign(signingString string, key any) ([]byte, error) {
	priv, ok := key.(*sm2.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s signs with an SM2 private key, got %T", jwt.ErrInvalidKeyType, suite.AlgSM2, key)
	}
	return suite.SignSM2(priv, []byte(signingString))
}

// Verify takes an SM2 *ecdsa.PublicKey (as JWK.PublicKey returns it).
func (signingMethodSM2) Verify(signingString string, sig []byte, key any) error {
	pub, ok := key.(*ecdsa.PublicKey)
	if !ok || !suite.IsSM2(pub) {
		return fmt.Errorf("%w: %s verifies with an SM2 public key, got %T", jwt.ErrInvalidKeyType, suite.AlgSM2, key)
	}
	if !suite.VerifySM2(pub, []byte(signingString), sig) {
		return jwt.ErrSignatureInvalid
	}
	return nil
}
