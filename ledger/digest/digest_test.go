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
