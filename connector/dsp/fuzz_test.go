package dsp

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecoders feeds arbitrary bodies to every decoder: none may panic, every
// refusal is a *DecodeError, and what a decoder accepts re-encodes to JSON
// that decodes again. Seeds are under testdata/fuzz/FuzzDecoders and the
// official examples.
func FuzzDecoders(f *testing.F) {
	for _, m := range samples() {
		data, _ := json.Marshal(m)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for typ, dec := range decoders {
			v, err := dec(bytes.NewReader(data))
			if err != nil {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("%s: error %v is not a *DecodeError", typ, err)
				}
				continue
			}
			out, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: re-encode: %v", typ, err)
			}
			if _, err := dec(bytes.NewReader(out)); err != nil {
				t.Fatalf("%s: accepted input does not round-trip: %v\n%s", typ, err, out)
			}
		}
	})
}
