package dsp

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector/dsp/dspschema"
)

func TestVersionResponse(t *testing.T) {
	v := NewVersionResponse("did:tdsc:a", "/dsp", ProfileCountersigned)
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := dspschema.Validate(b); err != nil {
		t.Fatalf("our dspace-version: %v\n%s", err, b)
	}
	e, err := DecodeVersionResponse(strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	base, err := e.BaseURL("https://a.example:8443/.well-known/dspace-version")
	if err != nil || base != "https://a.example:8443/dsp" {
		t.Fatalf("BaseURL = %q, %v", base, err)
	}
	if e.ParticipantID != "did:tdsc:a" || !e.Supports(ProfileCountersigned) || e.Auth == nil || e.Auth.Protocol != AuthProtocol {
		t.Fatalf("entry %+v", e)
	}
	// A standard peer's document: no tdsc terms, several versions.
	std := `{"protocolVersions":[{"version":"2024-1","path":"/old","binding":"HTTPS"},{"version":"2025-1","path":"/api/dsp/2025-1","binding":"HTTPS","auth":{"protocol":"DCP","version":"1.0"}}]}`
	e, err = DecodeVersionResponse(strings.NewReader(std))
	if err != nil {
		t.Fatal(err)
	}
	if base, _ := e.BaseURL("http://peer:9/.well-known/dspace-version"); base != "http://peer:9/api/dsp/2025-1" || e.Supports(ProfileCountersigned) {
		t.Fatalf("standard peer: base %q, entry %+v", base, e)
	}
	for body, field := range map[string]string{
		`{"protocolVersions":[]}`: "protocolVersions",
		`{"protocolVersions":[{"version":"2024-1","path":"/","binding":"HTTPS"}]}`: "protocolVersions",
		`{"protocolVersions":[{"version":"2025-1","path":"","binding":"HTTPS"}]}`:  "protocolVersions[0].path",
	} {
		_, err := DecodeVersionResponse(strings.NewReader(body))
		var de *DecodeError
		if !errors.As(err, &de) || de.Field != field {
			t.Errorf("%s: err %v, want field %q", body, err, field)
		}
	}
}

// FuzzVersionResponse: a peer's dspace-version never panics the reader, and
// an accepted entry resolves to a base URL.
func FuzzVersionResponse(f *testing.F) {
	b, _ := json.Marshal(NewVersionResponse("did:tdsc:a", "/", ProfileCountersigned))
	f.Add(b)
	f.Add([]byte(`{"protocolVersions":[{"version":"2025-1","path":"https://x/y","binding":"HTTPS"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeVersionResponse(strings.NewReader(string(data)))
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			return
		}
		if _, err := e.BaseURL("http://peer.example/.well-known/dspace-version"); err != nil {
			t.Fatalf("accepted entry %+v has no base URL: %v", e, err)
		}
	})
}
