package identity

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tdsc/tdsc/suite"
)

// clock is a settable fake clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// space is a small registered space: an authority, a provider, a consumer (ES256)
// and a suspended participant, each with an issuer, and a verifier for the provider.
type space struct {
	t                         testing.TB
	clock                     *clock
	src                       *MemorySource
	reg                       *Registry
	authority, prov, cons, sp *Issuer
	ver                       *Verifier // the provider's verifier
}

const (
	authorityID = "authority"
	providerID  = "provider-a"
	consumerID  = "consumer-b"
	suspendedID = "suspended-c"
	dataPlane   = "provider-a/data"
	dataURL     = "https://provider-a.example/data/transfers/t1"
)

func newSpace(t *testing.T) *space { return newSpaceTB(t) }

func newSpaceTB(t testing.TB) *space { return newSuiteSpace(t, suite.Intl) }

// newSuiteSpace is the space in crypto suite cs: in gm every key is SM2 and
// the verifier accepts only SM3withSM2.
func newSuiteSpace(t testing.TB, cs *suite.Suite) *space {
	t.Helper()
	s := &space{t: t, clock: &clock{t: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}, src: NewMemorySource()}
	mk := func(id string, gen func() (*Key, error), status string) *Issuer {
		k, err := gen()
		if err != nil {
			t.Fatal(err)
		}
		s.src.Put(Participant{ID: id, Name: id, Keys: []JWK{k.JWK()}, Region: "CN-BJ", Status: status})
		iss, err := NewIssuer(id, k, WithIssuerClock(s.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	ed, es := GenerateEd25519, GenerateES256
	if cs == suite.GM {
		ed, es = GenerateSM2, GenerateSM2
	}
	s.authority = mk(authorityID, ed, StatusActive)
	s.prov = mk(providerID, ed, StatusActive)
	s.cons = mk(consumerID, es, StatusActive)
	s.sp = mk(suspendedID, ed, StatusSuspended)
	s.reg = NewRegistry(s.src, WithRegistryClock(s.clock.Now))
	v, err := NewVerifier(s.reg, WithClock(s.clock.Now), WithSelf(providerID), WithAuthority(authorityID), WithSuite(cs))
	if err != nil {
		t.Fatal(err)
	}
	s.ver = v
	return s
}

func (s *space) grant() AccessGrant {
	return AccessGrant{
		Consumer: consumerID, Audience: dataPlane, Agreement: "agr-A", Dataset: "ds-1",
		Transfer: "t1", ConsumerKeyThumbprint: s.cons.Key().KeyID(),
	}
}

// must returns tok, failing the test on err.
func (s *space) must(tok string, err error) string {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

func decodeJSON(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
