package fabric

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/tdsc/tdsc/policy"
)

// TestConsentersMarkedByCert: where no orderer endpoint's address is a
// consenter's — here every endpoint renamed from 127.0.0.1 to localhost
// by a configuration update, as an operator names its orderers by a host
// name while the consenters are listed by IP, or runs them on a cluster
// listener of their own — each orderer that answers is marked a
// consenter by the server TLS certificate it serves, one of the
// consenters' the configuration lists (before, every answer was marked
// unknown). The ledger writes through the renamed endpoints; the update
// is undone at the end. It changes the channel's configuration, so it
// runs only with TDSC_FABRIC_RECONFIGURE=1.
func TestConsentersMarkedByCert(t *testing.T) {
	p := changingNetwork(t, "TDSC_FABRIC_RECONFIGURE", "renames the orderers' endpoints by a configuration update")
	ctx := context.Background()
	ch := mustChannel(t, p, 0)
	before := wholeCluster(t, ch, 0, 0)
	for _, a := range before.Answers {
		if a.Consenter == nil || !*a.Consenter {
			t.Fatalf("before the update: %s not marked a consenter by its address (%v)", a.Address, a.Consenter)
		}
	}
	s, l := readyToWrite(t, p)
	rename := func(from, to string) func(og *common.ConfigGroup) {
		return func(og *common.ConfigGroup) {
			for name, g := range og.Groups {
				ends := endpoints(t, g)
				for i, a := range ends.Addresses {
					host, port, err := net.SplitHostPort(a)
					if err != nil || host != from {
						t.Fatalf("orderer organisation %s: endpoint %q, want one on %s", name, a, from)
					}
					ends.Addresses[i] = net.JoinHostPort(to, port)
				}
				g.Values["Endpoints"].Value = mustMarshal(t, ends)
			}
		}
	}
	cfg0 := lastConfigBlock(t, ctx, ch)
	cfg1 := update(t, p, ch, cfg0, rename("127.0.0.1", "localhost"))
	t.Cleanup(func() {
		cfg2 := update(t, p, ch, cfg1, rename("localhost", "127.0.0.1"))
		t.Logf("endpoints named by IP again (configuration block %d)", cfg2.Header.Number)
	})
	t.Logf("every orderer endpoint renamed to localhost by configuration block %d", cfg1.Header.Number)

	after, err := AskOrderers(ctx, ch)
	if err != nil {
		t.Fatal(err)
	}
	if len(after.Answers) != len(before.Answers) || after.Need != before.Need {
		t.Fatalf("after the update: %d answers, need %d; before %d, need %d", len(after.Answers), after.Need, len(before.Answers), before.Need)
	}
	var marked []string
	for _, a := range after.Answers {
		if !strings.HasPrefix(a.Address, "localhost:") {
			t.Fatalf("an endpoint %s after the update", a.Address)
		}
		if a.Error != "" {
			t.Fatalf("%s: %s", a.Address, a.Error)
		}
		if a.Consenter == nil || !*a.Consenter {
			t.Fatalf("%s: not marked a consenter by the certificate it serves (%v)", a.Address, a.Consenter)
		}
		marked = append(marked, a.Address)
	}
	t.Logf("marked consenters by the certificates they serve: %s (%s, need %d)", strings.Join(marked, ", "), after.Consensus, after.Need)

	// The peers reach the orderers by the new names: a batch is written.
	p1, _ := s.Participant("cert-p1", "CN-BJ")
	if _, err := l.Append(ctx, mustBatch(t, s, s.Authority(), p1)); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, mustBatch(t, s, "cert-p1", s.Dataset("cert-p1", "ds-cert", policy.General, "traffic"))); err != nil {
		t.Fatal(err)
	}
}
