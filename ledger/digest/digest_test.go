package digest_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/ledger/digest"
)

const (
	emptyHex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	emptyB64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
)

func TestParseEveryForm(t *testing.T) {
	want := digest.OfSHA256(nil)
	for _, in := range []string{
		"sha256:" + emptyHex, "SHA256:" + strings.ToUpper(emptyHex), "sha-256:" + emptyHex, " " + emptyHex + " ",
		"sha-256=:" + emptyB64 + ":",
	} {
		got, err := digest.Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if want.String() != "sha256:"+emptyHex || want.ReprDigest() != "sha-256=:"+emptyB64+":" {
		t.Errorf("String %q, ReprDigest %q", want.String(), want.ReprDigest())
	}
}

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{"", "sha256:", "sha256:zz", "sha256:" + emptyHex[:62], "md5:" + emptyHex, emptyHex + "00",
		"sha-256=:" + emptyB64, "sha-256=:!!:"} {
		if d, err := digest.Parse(in); !errors.Is(err, digest.ErrInvalid) {
			t.Errorf("Parse(%q) = %v, %v; want ErrInvalid", in, d, err)
		}
	}
}

func TestParseReprDigest(t *testing.T) {
	d, ok := digest.ParseReprDigest("md5=:AAAA:, sha-256=:" + emptyB64 + ":")
	if !ok || d.Hex() != emptyHex {
		t.Fatalf("got %v, %v", d, ok)
	}
	if _, ok := digest.ParseReprDigest("sha-512=:AAAA:"); ok {
		t.Fatal("found a digest of an unknown algorithm")
	}
}

func TestSHA256Hex(t *testing.T) {
	for in, want := range map[string]string{
		"sha256:" + strings.ToUpper(emptyHex): emptyHex,
		emptyHex:                              emptyHex,
		"":                                    "",
		" sm3:ABC ":                           "sm3:abc", // not SHA-256: equals no SHA-256 hex
	} {
		if got := digest.SHA256Hex(in); got != want {
			t.Errorf("SHA256Hex(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"sha256:" + emptyHex, emptyHex, "sha-256=:" + emptyB64 + ":", "sm3:00", ":", "=:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := digest.Parse(s)
		if err != nil {
			return
		}
		again, err := digest.Parse(d.String())
		if err != nil || again != d {
			t.Fatalf("%q parsed to %v, which reads back as %v, %v", s, d, again, err)
		}
		if r, err := digest.Parse(d.ReprDigest()); err != nil || r != d {
			t.Fatalf("%q: Repr-Digest %q reads back as %v, %v", s, d.ReprDigest(), r, err)
		}
	})
}

// SM3, the gm suite's content hash: GB/T 32905 example 1 in every form.
func TestSM3(t *testing.T) {
	const abc = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
	d := digest.Of(digest.SM3, []byte("abc"))
	if d.String() != "sm3:"+abc || d.Algorithm() != digest.SM3 {
		t.Fatalf("Of(sm3, abc) = %s", d)
	}
	for _, in := range []string{"sm3:" + abc, "SM3:" + strings.ToUpper(abc), d.ReprDigest()} {
		if got, err := digest.Parse(in); err != nil || got != d {
			t.Errorf("Parse(%q) = %v, %v", in, got, err)
		}
	}
	if !strings.HasPrefix(d.ReprDigest(), "sm3=:") {
		t.Errorf("ReprDigest %q", d.ReprDigest())
	}
	if got, ok := digest.ParseReprDigest("sha-512=:AAAA:, " + d.ReprDigest()); !ok || got != d {
		t.Errorf("ParseReprDigest: %v %v", got, ok)
	}
	if digest.Hex(digest.SM3, "sm3:"+strings.ToUpper(abc)) != abc {
		t.Error("Hex(sm3)")
	}
	if got := digest.Hex(digest.SM3, "sha256:"+emptyHex); got == emptyHex {
		t.Error("a SHA-256 hash equals an SM3 hex")
	}
	if digest.Of(digest.SHA256, nil) != digest.OfSHA256(nil) || !digest.Of("md5", nil).IsZero() || digest.NewHash("md5") != nil {
		t.Error("Of / NewHash")
	}
	h := digest.NewHash(digest.SM3)
	h.Write([]byte("abc"))
	if string(h.Sum(nil)) != string(d.Sum()) {
		t.Error("NewHash(sm3)")
	}
}
