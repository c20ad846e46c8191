package dataplane_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/identity"
)

// pushEnv is a consumer's push receiver: the consumer issues the provider a
// token for its endpoint, bound to the provider's key.
type pushEnv struct {
	*env
	provKey  *identity.Key
	consumer *identity.Issuer
	crec     *records
	dir      string
	recv     *httptest.Server
}

func newPushEnv(t *testing.T, size int) *pushEnv {
	t.Helper()
	e := newEnv(t, size)
	p := &pushEnv{env: e, crec: newRecords(), dir: t.TempDir()}
	p.provKey = newKey(t, identity.GenerateEd25519)
	prov, _ := e.src.Participant(context.Background(), providerID)
	prov.Keys = append(prov.Keys, p.provKey.JWK())
	e.src.Put(prov)
	var err error
	if p.consumer, err = identity.NewIssuer(consumerID, e.consumer, identity.WithIssuerClock(e.clock.Now)); err != nil {
		t.Fatal(err)
	}
	reg := identity.NewRegistry(e.src, identity.WithRegistryClock(e.clock.Now))
	ver, err := identity.NewVerifier(reg, identity.WithClock(e.clock.Now), identity.WithSelf(consumerID))
	if err != nil {
		t.Fatal(err)
	}
	cfg := dataplane.DefaultReceiverConfig()
	cfg.Audience, cfg.Dir, cfg.Now = "consumer-b/push", p.dir, e.clock.Now
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), nil))
	registered := func(ctx context.Context, ds string) (string, error) { return e.datasets[ds].ContentHash, nil }
	rv, err := dataplane.NewReceiver(cfg, dataplane.IdentityVerifier{V: ver}, registered, p.crec)
	if err != nil {
		t.Fatal(err)
	}
	p.recv = httptest.NewServer(rv.Handler())
	t.Cleanup(p.recv.Close)
	return p
}

func (p *pushEnv) pushToken(transfer string) string {
	p.t.Helper()
	tok, err := p.consumer.AccessToken(identity.AccessGrant{Consumer: providerID, Audience: "consumer-b/push",
		Agreement: "agr-1", Dataset: "ds-1", Transfer: transfer, ConsumerKeyThumbprint: p.provKey.KeyID()})
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}

func TestPushWithHashCheck(t *testing.T) {
	p := newPushEnv(t, fileSize)
	tok := p.pushToken("t1")
	pusher := dataplane.NewPusher(nil, p.rec, p.clock.Now)
	res, err := pusher.Push(context.Background(), dataplane.PushRequest{
		URL: p.recv.URL + dataplane.PushPrefix + "t1", Token: tok, Proof: p.proof(p.provKey, tok),
		Grant:   dataplane.Grant{Transfer: "t1", Agreement: "agr-1", Dataset: "ds-1", Issuer: providerID, Subject: consumerID},
		Dataset: p.datasets["ds-1"],
	})
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if res.ContentHash != p.hash || res.Bytes != fileSize || res.Mismatch {
		t.Errorf("Push = %+v", res)
	}
	if got := fileHash(t, filepath.Join(p.dir, "t1", "dataset")); got != p.hash {
		t.Errorf("received file hash %s, want %s", got, p.hash)
	}
	pc, _ := p.rec.snapshot()
	cc, _ := p.crec.snapshot()
	if len(pc) != 1 || len(cc) != 1 || pc[0].ContentHash != p.hash || cc[0].ContentHash != p.hash ||
		cc[0].Role != dataplane.RoleConsumer || cc[0].Bytes != fileSize || cc[0].Provider != providerID {
		t.Errorf("completion records: provider %+v, consumer %+v", pc, cc)
	}
}

func TestPushMismatchIsRejected(t *testing.T) {
	p := newPushEnv(t, 1<<20)
	p.datasets["ds-1"] = dataplane.Dataset{ID: "ds-1", Source: dataplane.FileSource{Path: p.file}, ContentHash: strings.Repeat("0", 64)}
	tok := p.pushToken("t1")
	_, err := dataplane.NewPusher(nil, p.rec, p.clock.Now).Push(context.Background(), dataplane.PushRequest{
		URL: p.recv.URL + dataplane.PushPrefix + "t1", Token: tok, Proof: p.proof(p.provKey, tok),
		Grant: dataplane.Grant{Transfer: "t1", Dataset: "ds-1"}, Dataset: p.datasets["ds-1"],
	})
	if !errors.Is(err, dataplane.ErrHashMismatch) {
		t.Fatalf("Push error %v, want ErrHashMismatch", err)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "t1", "dataset.rejected")); err != nil {
		t.Errorf("rejected file not kept aside: %v", err)
	}
	if _, err := os.Stat(filepath.Join(p.dir, "t1", "dataset")); err == nil {
		t.Error("a mismatching file was stored as the dataset")
	}
	cc, _ := p.crec.snapshot()
	if len(cc) != 1 || !cc[0].Mismatch {
		t.Errorf("consumer's completion %+v, want one with Mismatch", cc)
	}
}

func TestPushRefusals(t *testing.T) {
	p := newPushEnv(t, 1<<10)
	tok := p.pushToken("t1")
	tests := []struct {
		name   string
		url    string
		proof  dataplane.ProofFunc
		reason string
	}{
		{"stolen without the provider's key", p.recv.URL + "/push/t1", p.proof(p.thief, tok), dataplane.ReasonProofInvalid},
		{"another transfer", p.recv.URL + "/push/t9", p.proof(p.provKey, tok), dataplane.ReasonWrongTransfer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dataplane.NewPusher(nil, p.rec, p.clock.Now).Push(context.Background(), dataplane.PushRequest{
				URL: tt.url, Token: tok, Proof: tt.proof, Grant: dataplane.Grant{Transfer: "t1"}, Dataset: p.datasets["ds-1"],
			})
			var derr *dataplane.Error
			if !errors.As(err, &derr) || derr.Reason != tt.reason {
				t.Fatalf("Push error %v, want reason %s", err, tt.reason)
			}
		})
	}
	if _, denied := p.crec.snapshot(); len(denied) != len(tests) {
		t.Errorf("consumer recorded %d denials, want %d", len(denied), len(tests))
	}
}
