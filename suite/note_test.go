package suite

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestNoteKeys(t *testing.T) {
	for _, s := range []*Suite{Intl, GM} {
		t.Run(s.Name(), func(t *testing.T) {
			skey, vkey, err := s.GenerateNoteKey("tdsc.example/space-1")
			if err != nil {
				t.Fatal(err)
			}
			if got, err := NoteKeySuite(vkey); err != nil || got != s {
				t.Fatalf("NoteKeySuite(vkey) = %v, %v", got, err)
			}
			if got, err := NoteKeySuite(skey); err != nil || got != s {
				t.Fatalf("NoteKeySuite(skey) = %v, %v", got, err)
			}
			signer, err := NewNoteSigner(skey)
			if err != nil {
				t.Fatal(err)
			}
			v, err := NewNoteVerifier(vkey)
			if err != nil {
				t.Fatal(err)
			}
			if signer.KeyHash() != v.KeyHash() || signer.Name() != v.Name() {
				t.Fatal("signer and verifier disagree on name or key hash")
			}
			text := "tdsc.example/space-1\n3\nq6rJ2Y1cVb2bVu5nXj1q5m0c5l7d4b3fJYw1J2q8b5o=\n"
			signed, err := note.Sign(&note.Note{Text: text}, signer)
			if err != nil {
				t.Fatal(err)
			}
			again, err := note.Sign(&note.Note{Text: text}, signer)
			if err != nil || string(again) != string(signed) {
				t.Fatalf("the same checkpoint signed twice differs: %v", err)
			}
			n, err := note.Open(signed, note.VerifierList(v))
			if err != nil || n.Text != text {
				t.Fatalf("open: %v", err)
			}
			tampered := strings.Replace(string(signed), "\n3\n", "\n4\n", 1)
			if _, err := note.Open([]byte(tampered), note.VerifierList(v)); err == nil {
				t.Fatal("tampered note verifies")
			}
			// The other suite's key never verifies this note.
			other := GM
			if s == GM {
				other = Intl
			}
			_, ovkey, _ := other.GenerateNoteKey("tdsc.example/space-1")
			ov, _ := NewNoteVerifier(ovkey)
			var unverified *note.UnverifiedNoteError
			if _, err := note.Open(signed, note.VerifierList(ov)); !errors.As(err, &unverified) {
				t.Fatalf("note opened with the other suite's key: %v", err)
			}
		})
	}
}

func TestNoteKeyRefusals(t *testing.T) {
	_, vkey, _ := GM.GenerateNoteKey("o")
	name, rest, _ := strings.Cut(vkey, "+")
	for what, k := range map[string]string{
		"no hash":    name,
		"bad hash":   name + "+zzzzzzzz+" + strings.SplitN(rest, "+", 2)[1],
		"wrong hash": name + "+00000000+" + strings.SplitN(rest, "+", 2)[1],
		"renamed":    "p+" + rest,
		"short key":  name + "+" + strings.SplitN(rest, "+", 2)[0] + "+/3RkYy1zbTItc20zBA==",
	} {
		if _, err := NewNoteVerifier(k); !errors.Is(err, ErrNoteKey) {
			t.Errorf("%s: %v", what, err)
		}
	}
	if _, err := NewNoteSigner(vkey); !errors.Is(err, ErrNoteKey) {
		t.Errorf("verifier key as signer: %v", err)
	}
}

// FuzzNoteVerifier: no checkpoint verifier key makes the parser panic, and a
// parsed key refuses arbitrary signatures.
func FuzzNoteVerifier(f *testing.F) {
	_, gk, _ := GM.GenerateNoteKey("tdsc.example/s")
	_, ik, _ := Intl.GenerateNoteKey("tdsc.example/s")
	f.Add(gk, []byte("text\n"), make([]byte, 64))
	f.Add(ik, []byte("text\n"), make([]byte, 64))
	f.Add("a+00000000+/w==", []byte{}, []byte{1})
	f.Fuzz(func(t *testing.T, key string, msg, sig []byte) {
		v, err := NewNoteVerifier(key)
		if err != nil {
			if !errors.Is(err, ErrNoteKey) {
				t.Fatalf("error not ErrNoteKey: %v", err)
			}
			return
		}
		_ = v.Verify(msg, sig)
	})
}
