package connector_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/policy"
)

// fakeClock is a clock the test moves by hand, shared by both nodes.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// outageReads is the ledger's read side (participants, space rules) as the
// connectors reach it, unavailable while down is set, as a ledger service
// answers 503 during an outage.
type outageReads struct {
	led  *embedded.Store
	down *atomic.Bool
}

func (o outageReads) Participant(ctx context.Context, id string) (identity.Participant, error) {
	if o.down.Load() {
		return identity.Participant{}, fmt.Errorf("%w: reading participant %s", ledger.ErrUnavailable, id)
	}
	return o.led.Participant(ctx, id)
}

func (o outageReads) Rules(ctx context.Context) (policy.SpaceRules, error) {
	if o.down.Load() {
		return policy.SpaceRules{}, fmt.Errorf("%w: reading the space rules", ledger.ErrUnavailable)
	}
	return o.led.Rules(ctx)
}

// TestLedgerOutageLongerThanTheRegistryCache: the ledger (writes and reads)
// is away for longer than the connectors cache participants (30 s, on a
// fake clock). The provider's decision on a negotiation approved during the
// outage, and a transfer requested during it, wait instead of being refused
// as "not registered"; requests the provider cannot verify get 503 and are
// retried; everything finishes once the ledger is back, and nothing is denied.
func TestLedgerOutageLongerThanTheRegistryCache(t *testing.T) {
	s := newSpace(t)
	clock := &fakeClock{t: time.Now().UTC().Truncate(time.Second)}
	reads := outageReads{led: s.led, down: &s.gate.down}
	opts := []connector.Option{connector.WithClock(clock.Now), connector.WithParticipants(reads), connector.WithRules(reads)}
	pk := s.register("did:tdsc:transport-bureau", "CN-BJ", "government")
	ck := s.register("did:tdsc:research-lab", "CN-SH", "research")
	prov := s.node("did:tdsc:transport-bureau", pk, "", "", opts...)
	cons := s.node("did:tdsc:research-lab", ck, "", "", opts...)
	ctx := context.Background()
	provider(t, prov, true) // every request waits for the operator's approval
	cat, err := cons.RemoteCatalog(ctx, prov.url(), "")
	if err != nil {
		t.Fatal(err)
	}
	negotiate := func() (consumerID, providerID string) {
		t.Helper()
		neg, err := cons.Negotiate(ctx, connector.NegotiateOffer{ProviderURL: prov.url(), Provider: prov.id, Dataset: cat.Dataset[0].ID,
			Offer: cat.Dataset[0].HasPolicy[0], Purpose: "research"})
		if err != nil {
			t.Fatal(err)
		}
		var pid string
		eventually(t, "the provider holds the request for approval", func() (bool, string) {
			p := peerNegotiation(t, prov, neg.ID)
			if p == nil {
				return false, "not yet"
			}
			pid = p.ID
			return p.State == "REQUESTED" && p.Awaiting == "operator approval", p.State + " awaiting " + p.Awaiting
		})
		return neg.ID, pid
	}
	first, firstP := negotiate()
	if _, err := prov.Approve(ctx, firstP, true, ""); err != nil {
		t.Fatal(err)
	}
	agreement := waitNeg(t, cons, first, "FINALIZED").AgreementID
	second, secondP := negotiate() // the caches are warm

	s.gate.down.Store(true)
	clock.Add(31 * time.Second) // every cached participant has expired
	// The provider cannot verify anyone now: it says so, and asks to retry.
	if _, err := cons.RemoteCatalog(ctx, prov.url(), ""); err == nil || !strings.Contains(err.Error(), "503 unavailable") || !strings.Contains(err.Error(), "retry later") {
		t.Fatalf("catalogue during the outage: %v, want 503 unavailable, retry later", err)
	}
	// The decision reads the consumer from the registry: unavailable, not unknown.
	if _, err := prov.Approve(ctx, secondP, true, ""); err != nil {
		t.Fatal(err)
	}
	x, err := cons.StartTransfer(ctx, agreement, "")
	if err != nil {
		t.Fatal(err)
	}
	// Give the steps time to be tried many times (RetryMax is 100 ms here).
	time.Sleep(time.Second)
	if n := negState(t, prov, secondP); n.State != "REQUESTED" {
		t.Fatalf("provider's negotiation during the outage is %s: %s", n.State, n.Reason)
	}
	if cx := waitTransfer(t, cons, x.ID, "REQUESTED"); cx.State != "REQUESTED" {
		t.Fatalf("transfer during the outage is %s: %s", cx.State, cx.Reason)
	}

	s.gate.down.Store(false)
	cneg := waitNeg(t, cons, second, "FINALIZED")
	cx := waitTransfer(t, cons, x.ID, "STARTED")
	s.onLedger(t, "agreement.signed/"+cneg.AgreementID)
	s.onLedger(t, "transfer.authorized/"+cx.PeerPID)
	for _, k := range []ledger.Kind{ledger.KindNegotiationDenied, ledger.KindTransferDenied} {
		p, err := s.led.Query(ctx, ledger.Query{Kind: k})
		if err != nil || len(p.Records) != 0 {
			t.Fatalf("%s records after the outage: %v %+v", k, err, p.Records)
		}
	}
}
