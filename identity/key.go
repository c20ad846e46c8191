package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/emmansun/gmsm/sm2"

	"github.com/tdsc/tdsc/internal/atomicfile"
	"github.com/tdsc/tdsc/suite"
)

// Key is a participant's private signing key with its public JWK.
type Key struct {
	priv crypto.Signer
	pub  JWK
}

// GenerateEd25519 makes a new Ed25519 key.
func GenerateEd25519() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewKey(priv)
}

// GenerateES256 makes a new P-256 key.
func GenerateES256() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewKey(priv)
}

// GenerateSM2 makes a new SM2 key, for a gm space.
func GenerateSM2() (*Key, error) {
	priv, err := suite.GenerateSM2()
	if err != nil {
		return nil, err
	}
	return NewKey(priv)
}

// Generate makes a new key for a space of suite s: Ed25519 for intl (alg ""
// or EdDSA) or ES256 (alg ES256), SM2 for gm.
func Generate(s *suite.Suite, alg string) (*Key, error) {
	if s == suite.GM {
		if alg != "" && alg != suite.AlgSM2 {
			return nil, s.CheckAlg(alg, true)
		}
		return GenerateSM2()
	}
	switch alg {
	case "", suite.AlgEdDSA:
		return GenerateEd25519()
	case suite.AlgES256:
		return GenerateES256()
	}
	return nil, s.CheckAlg(alg, true)
}

// NewKey wraps an ed25519.PrivateKey, *ecdsa.PrivateKey (P-256) or *sm2.PrivateKey.
func NewKey(priv crypto.Signer) (*Key, error) {
	pub, err := NewJWK(priv.Public())
	if err != nil {
		return nil, err
	}
	return &Key{priv: priv, pub: pub}, nil
}

// JWK is the public key, kid set.
func (k *Key) JWK() JWK { return k.pub }

// KeyID is the RFC 7638 thumbprint of the public key.
func (k *Key) KeyID() string { return k.pub.Kid }

// Signer is the underlying private key, for golang-jwt signing.
func (k *Key) Signer() crypto.Signer { return k.priv }

// SignDetached signs msg: Ed25519 over msg, ES256 (r||s) over SHA-256(msg),
// or SM2 (r||s) over SM3(ZA || msg). JWK.VerifyDetached checks it.
func (k *Key) SignDetached(msg []byte) ([]byte, error) {
	switch p := k.priv.(type) {
	case *sm2.PrivateKey:
		return suite.SignSM2(p, msg)
	case ed25519.PrivateKey:
		return ed25519.Sign(p, msg), nil
	case *ecdsa.PrivateKey:
		h := sha256.Sum256(msg)
		r, s, err := ecdsa.Sign(rand.Reader, p, h[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	}
	return nil, fmt.Errorf("%w: unsupported private key %T", ErrBadKey, k.priv)
}

// Save writes the private key as PKCS#8 PEM with mode 0600, refusing to overwrite.
func (k *Key) Save(path string) error {
	var der []byte
	var err error
	if p, ok := k.priv.(*sm2.PrivateKey); ok {
		der, err = suite.MarshalSM2PKCS8(p)
	} else {
		der, err = x509.MarshalPKCS8PrivateKey(k.priv)
	}
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("identity: write key: %w", err)
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = atomicfile.SyncDir(filepath.Dir(path))
	}
	if err != nil {
		// A key cut short would block the next try (the file exists) and
		// load as nothing: it goes.
		os.Remove(path)
		return fmt.Errorf("identity: write key %s: %w", path, err)
	}
	return nil
}

// LoadKey reads a key written by Save. It refuses files readable by group or others.
func LoadKey(path string) (*Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("identity: read key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("identity: key file %s has mode %v: must be 0600 (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: read key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s: not a PKCS#8 PEM private key", ErrBadKey, path)
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		// SM2 keys carry the SM2 curve OID, which crypto/x509 does not know.
		var err2 error
		if priv, err2 = suite.ParseSM2PKCS8(block.Bytes); err2 == nil {
			err = nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadKey, path, err)
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: %s: not a signing key", ErrBadKey, path)
	}
	return NewKey(signer)
}
