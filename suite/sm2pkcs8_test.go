package suite

import (
	"crypto/rand"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// Our PKCS#8 form and gmsm's smx509 read each other's keys (smx509 only in
// this test: it links the testing package into a binary).
func TestSM2PKCS8InteroperatesWithSmx509(t *testing.T) {
	priv, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ours, err := MarshalSM2PKCS8(priv)
	if err != nil {
		t.Fatal(err)
	}
	k, err := smx509.ParsePKCS8PrivateKey(ours)
	if err != nil {
		t.Fatalf("smx509 reads our key: %v", err)
	}
	if !priv.Equal(k) {
		t.Fatal("smx509 read another key")
	}
	theirs, err := smx509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseSM2PKCS8(theirs)
	if err != nil || !back.Equal(priv) {
		t.Fatalf("ParseSM2PKCS8(smx509's) = %v", err)
	}
	bad := append([]byte{}, ours...)
	bad[len(bad)-1] ^= 1 // the stated public key's last byte
	if _, err := ParseSM2PKCS8(bad); err == nil {
		t.Error("a key whose stated public key is altered was accepted")
	}
	if _, err := ParseSM2PKCS8(append(ours, 0)); err == nil {
		t.Error("trailing bytes accepted")
	}
}

func FuzzParseSM2PKCS8(f *testing.F) {
	priv, _ := sm2.GenerateKey(rand.Reader)
	der, _ := MarshalSM2PKCS8(priv)
	f.Add(der)
	f.Add([]byte{0x30, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseSM2PKCS8(b)
		if err != nil {
			return
		}
		again, err := MarshalSM2PKCS8(k)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParseSM2PKCS8(again)
		if err != nil || !k2.Equal(k) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
