package suite

import (
	"testing"
)

// FuzzVerifySM2 feeds arbitrary public-key coordinates, messages and
// signatures to the SM2 decoders: nothing panics, and a signature that
// verifies must re-encode to itself (r||s has exactly one form).
func FuzzVerifySM2(f *testing.F) {
	priv, _ := GenerateSM2()
	x, y := SM2Coordinates(&priv.PublicKey)
	sig, _ := SignSM2(priv, []byte("m"))
	f.Add(x, y, []byte("m"), sig)
	f.Add(x, y, []byte("m"), make([]byte, 64))
	f.Add(make([]byte, 32), make([]byte, 32), []byte{}, []byte{0x30, 0x06, 2, 1, 1, 2, 1, 1})
	f.Fuzz(func(t *testing.T, x, y, msg, sig []byte) {
		pub, err := SM2PublicKey(x, y)
		if err != nil {
			return
		}
		if VerifySM2(pub, msg, sig) {
			der, err := rsToDER(sig)
			if err != nil {
				t.Fatal(err)
			}
			back, err := derToRS(der)
			if err != nil || string(back) != string(sig) {
				t.Fatalf("verified signature %x does not round-trip", sig)
			}
		}
	})
}
