package connector_test

import (
	"context"
	"sync"
	"testing"

	"github.com/tdsc/tdsc/connector"
)

// BenchmarkNegotiation negotiates to FINALIZED (agreement.signed committed on
// the embedded ledger) between two real connectors on loopback, 32 at a time.
// tdsc bench negotiation reports the same path with percentiles.
func BenchmarkNegotiation(b *testing.B) {
	s := newSpaceB(b)
	pk := s.register("did:tdsc:p", "CN-BJ", "government")
	ck := s.register("did:tdsc:c", "CN-SH", "research")
	prov, cons := s.node("did:tdsc:p", pk, "", ""), s.node("did:tdsc:c", ck, "", "")
	ctx := context.Background()
	provider(s.t, prov, false)
	cat, err := cons.RemoteCatalog(ctx, prov.url(), "")
	if err != nil {
		b.Fatal(err)
	}
	req := connector.NegotiateOffer{ProviderURL: prov.url(), Provider: prov.id, Dataset: cat.Dataset[0].ID, Offer: cat.Dataset[0].HasPolicy[0], Purpose: "research"}
	b.ResetTimer()
	var wg sync.WaitGroup
	work := make(chan struct{})
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				neg, err := cons.Negotiate(ctx, req)
				if err != nil {
					b.Error(err)
					return
				}
				if final, err := cons.WaitNegotiation(ctx, neg.ID); err != nil || final.State != "FINALIZED" {
					b.Errorf("negotiation %s: %v %+v", neg.ID, err, final)
					return
				}
			}
		}()
	}
	for i := 0; i < b.N; i++ {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
}
