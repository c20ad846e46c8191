package suite

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// GB/T 32905-2016 Appendix A, examples 1 and 2.
func TestSM3GBT32905(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"abc", "66c7f0f4 62eeedd9 d1f2d46b dc10e4e2 4167c487 5cf2f7a2 297da02b 8f4ba8e0"},
		{strings.Repeat("abcd", 16), "debe9ff9 2275b8a1 38604889 c18e5a4d 6fdb70e5 387e5765 293dcba3 9c0c5732"},
	} {
		if got := GM.Sum([]byte(tc.msg)); !bytes.Equal(got, unhex(t, tc.want)) {
			t.Errorf("SM3(%q) = %x, want %s", tc.msg, got, tc.want)
		}
		h := GM.NewHash()
		h.Write([]byte(tc.msg))
		if got := h.Sum(nil); !bytes.Equal(got, unhex(t, tc.want)) {
			t.Errorf("streamed SM3(%q) = %x", tc.msg, got)
		}
	}
	if GM.HashName() != "sm3" || Intl.HashName() != "sha256" {
		t.Fatal("hash names")
	}
}

// The signature example on the recommended curve of GB/T 32918.5-2017
// Appendix A (also GM/T 0003.5-2012 A.2): message "message digest", the
// default user id 1234567812345678.
func TestSM2GBT32918Example(t *testing.T) {
	d := unhex(t, "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8")
	x := unhex(t, "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020")
	y := unhex(t, "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
	za := unhex(t, "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
	e := unhex(t, "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640")
	sig := unhex(t, "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"+
		"B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")
	msg := []byte("message digest")

	priv, err := sm2.NewPrivateKey(d)
	if err != nil {
		t.Fatal(err)
	}
	gx, gy := SM2Coordinates(&priv.PublicKey)
	if !bytes.Equal(gx, x) || !bytes.Equal(gy, y) {
		t.Fatalf("public key of dA = %x, %x", gx, gy)
	}
	pub, err := SM2PublicKey(x, y)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := sm2.CalculateZA(pub, []byte("1234567812345678")); !bytes.Equal(got, za) {
		t.Fatalf("ZA = %x", got)
	}
	if got, _ := sm2.CalculateSM2Hash(pub, msg, nil); !bytes.Equal(got, e) {
		t.Fatalf("e = %x", got)
	}
	if !VerifySM2(pub, msg, sig) {
		t.Fatal("the standard's signature does not verify")
	}
	for i := range sig {
		bad := bytes.Clone(sig)
		bad[i] ^= 0x01
		if VerifySM2(pub, msg, bad) {
			t.Fatalf("signature with byte %d flipped verifies", i)
		}
	}
	if VerifySM2(pub, []byte("message digesT"), sig) {
		t.Fatal("signature verifies another message")
	}
	// Our own signatures with the same key verify, are r||s, and are checked
	// by the library's ASN.1 verifier too (an independent encoding path).
	own, err := SignSM2(priv, msg)
	if err != nil || len(own) != SM2SignatureSize || !VerifySM2(pub, msg, own) {
		t.Fatalf("own signature %x: %v", own, err)
	}
	der, _ := rsToDER(own)
	if !sm2.VerifyASN1WithSM2(pub, nil, msg, der) {
		t.Fatal("own signature refused by gmsm's ASN.1 verifier")
	}
	if !sm2.VerifyASN1(pub, e, der) {
		t.Fatal("own signature not over e = SM3(ZA || M)")
	}
	_ = sm3.Size
}

func TestSuiteLookup(t *testing.T) {
	for name, want := range map[string]*Suite{"": Intl, "intl": Intl, "gm": GM} {
		if got, err := Lookup(name); err != nil || got != want {
			t.Errorf("Lookup(%q) = %v, %v", name, got, err)
		}
	}
	if _, err := Lookup("GM"); err == nil || !strings.Contains(err.Error(), `"intl" or "gm"`) {
		t.Fatalf("Lookup(GM) = %v", err)
	}
	err := GM.CheckAlg("ES256", false)
	var me *MixError
	if err == nil || !asMix(err, &me) || me.Rule != RuleAlg {
		t.Fatalf("ES256 in gm: %v", err)
	}
	if err := GM.CheckHashName("sha256"); err == nil || !strings.Contains(err.Error(), RuleHash) {
		t.Fatalf("sha256 in gm: %v", err)
	}
	if err := Intl.CheckAlg(AlgSM2, true); err == nil || !strings.Contains(err.Error(), RuleKey) {
		t.Fatalf("SM2 key in intl: %v", err)
	}
	if GM.CheckAlg(AlgSM2, false) != nil || Intl.CheckAlg(AlgEdDSA, true) != nil {
		t.Fatal("own algorithms refused")
	}
}

func asMix(err error, me **MixError) bool {
	m, ok := err.(*MixError)
	*me = m
	return ok
}

// Deterministic SM2 signatures verify with the library's own verifier and
// repeat for the same message only.
func TestSM2Deterministic(t *testing.T) {
	priv, _ := GenerateSM2()
	a, err := SignSM2Deterministic(priv, []byte("m"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SignSM2Deterministic(priv, []byte("m"))
	c, _ := SignSM2Deterministic(priv, []byte("n"))
	if !bytes.Equal(a, b) || bytes.Equal(a, c) || !VerifySM2(&priv.PublicKey, []byte("m"), a) || VerifySM2(&priv.PublicKey, []byte("n"), a) {
		t.Fatal("deterministic signatures")
	}
	der, _ := rsToDER(a)
	if !sm2.VerifyASN1WithSM2(&priv.PublicKey, nil, []byte("m"), der) {
		t.Fatal("gmsm refuses the deterministic signature")
	}
}
