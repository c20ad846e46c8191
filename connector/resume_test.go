package connector_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// startedPull starts a pull under a fresh agreement and returns the
// consumer's transfer once STARTED, with its token.
func startedPull(t *testing.T, prov, cons *testNode) (*store.Transfer, string) {
	t.Helper()
	_, offerID := provider(t, prov, false)
	ag := agree(t, prov, cons, offerID)
	x, err := cons.StartTransfer(context.Background(), ag, "")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "STARTED")
	return cx, dataAddress(t, cx).Property("authorization")
}

func dataAddress(t *testing.T, x *store.Transfer) *dsp.DataAddress {
	t.Helper()
	var a dsp.DataAddress
	if err := json.Unmarshal(x.DataAddress, &a); err != nil {
		t.Fatal(err)
	}
	return &a
}

func pullWith(cons *testNode, x *store.Transfer, tok, out string) error {
	a := dsp.DataAddress{}
	_ = json.Unmarshal(x.DataAddress, &a)
	_, err := pull.Download(context.Background(), a.Endpoint, tok, dataplane.KeyProof(cons.key, tok), out, pull.WithRetries(0))
	return err
}

// TestSuspendAndResumePull: the consumer suspends a started pull, and the
// data plane refuses its token; it resumes, and the provider re-evaluates
// the agreement and issues a fresh token, without a new use or a second
// transfer.authorized; the old token stays refused, the new one pulls.
func TestSuspendAndResumePull(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	cx, tok1 := startedPull(t, prov, cons)
	if _, err := cons.SuspendTransfer(ctx, cx.ID, "maintenance window"); err != nil {
		t.Fatal(err)
	}
	px := waitTransfer(t, prov, cx.PeerPID, "SUSPENDED")
	if px.Reason != "maintenance window" {
		t.Errorf("provider's reason %q, want the consumer's", px.Reason)
	}
	out := filepath.Join(t.TempDir(), "traffic.csv")
	if err := pullWith(cons, cx, tok1, out); err == nil {
		t.Fatal("a suspended transfer's token pulled data")
	}

	if _, err := cons.ResumeTransfer(ctx, cx.ID); err != nil {
		t.Fatal(err)
	}
	cx2 := waitTransfer(t, cons, cx.ID, "STARTED")
	tok2 := dataAddress(t, cx2).Property("authorization")
	if tok2 == "" || tok2 == tok1 {
		t.Fatal("resume did not issue a fresh access token")
	}
	if err := pullWith(cons, cx2, tok1, out); err == nil || !strings.Contains(err.Error(), "superseded") {
		t.Fatalf("the token from before the resume: %v, want refused as superseded", err)
	}
	if err := pullWith(cons, cx2, tok2, out); err != nil {
		t.Fatalf("pull after resume: %v", err)
	}
	if got, _ := os.ReadFile(out); string(got) != trafficCSV {
		t.Fatalf("pulled %q", got)
	}

	ag, err := prov.Store().View(ctx).Agreement(cx.AgreementID)
	if err != nil {
		t.Fatal(err)
	}
	if ag.Uses != 1 {
		t.Errorf("agreement uses after a resume = %d, want 1", ag.Uses)
	}
	p, err := s.led.Query(ctx, ledger.Query{Transfer: cx.PeerPID, Kind: ledger.KindTransferAuthorized})
	if err != nil || len(p.Records) != 1 {
		t.Fatalf("transfer.authorized records: %v, %+v", err, p)
	}
	done := s.onLedger(t, "transfer.completed/"+cx.PeerPID+"/"+prov.id)
	if done.Decision != ledger.DecisionAllow || done.Bytes != int64(len(trafficCSV)) {
		t.Errorf("provider's completion %+v", done)
	}
	h, err := prov.Store().View(ctx).History(cx.PeerPID)
	if err != nil || len(h) == 0 {
		t.Fatalf("provider's history: %v, %+v", err, h)
	}
	if last := h[len(h)-1]; last.To != "STARTED" || !strings.Contains(last.Reason, "resumed") || !strings.Contains(last.Reason, "no new use") {
		t.Errorf("provider's last transition %+v, want the resume explained", last)
	}
}

// TestOnlyTheSuspenderResumes: a transfer the provider suspended is not
// resumed by the consumer's request; the provider resumes it.
func TestOnlyTheSuspenderResumes(t *testing.T) {
	_, prov, cons := twoNodes(t)
	ctx := context.Background()
	cx, _ := startedPull(t, prov, cons)
	if _, err := prov.SuspendTransfer(ctx, cx.PeerPID, "audit in progress"); err != nil {
		t.Fatal(err)
	}
	waitTransfer(t, cons, cx.ID, "SUSPENDED")
	_, err := cons.ResumeTransfer(ctx, cx.ID)
	if err == nil || !strings.Contains(err.Error(), "transfer.suspended-by-provider") {
		t.Fatalf("consumer's resume of a provider suspension: %v, want refused by transfer.suspended-by-provider", err)
	}
	if _, err := prov.ResumeTransfer(ctx, cx.PeerPID); err != nil {
		t.Fatal(err)
	}
	cx2 := waitTransfer(t, cons, cx.ID, "STARTED")
	if err := pullWith(cons, cx2, dataAddress(t, cx2).Property("authorization"), filepath.Join(t.TempDir(), "o")); err != nil {
		t.Fatalf("pull after the provider resumed: %v", err)
	}
	// Resuming what is not suspended is an invalid transition.
	if _, err := cons.ResumeTransfer(ctx, cx.ID); err == nil || !strings.Contains(err.Error(), "STARTED") {
		t.Fatalf("resume of a started transfer: %v", err)
	}
}

// TestRevocationEndsASuspendedTransfer: revoking the agreement terminates
// its suspended transfer on both sides; there is nothing left to resume.
func TestRevocationEndsASuspendedTransfer(t *testing.T) {
	_, prov, cons := twoNodes(t)
	ctx := context.Background()
	cx, _ := startedPull(t, prov, cons)
	if _, err := cons.SuspendTransfer(ctx, cx.ID, "pause"); err != nil {
		t.Fatal(err)
	}
	waitTransfer(t, prov, cx.PeerPID, "SUSPENDED")
	if _, err := prov.Revoke(ctx, cx.AgreementID, "licence withdrawn"); err != nil {
		t.Fatal(err)
	}
	waitTransfer(t, prov, cx.PeerPID, "TERMINATED")
	waitTransfer(t, cons, cx.ID, "TERMINATED")
	if _, err := cons.ResumeTransfer(ctx, cx.ID); err == nil || !strings.Contains(err.Error(), "TERMINATED") {
		t.Fatalf("resume of a terminated transfer: %v", err)
	}
}

// TestResumeIsEvaluatedAgain: while the transfer is suspended the space
// negative-lists the dataset's category; the resume is refused by that rule,
// recorded, and the transfer terminated.
func TestResumeIsEvaluatedAgain(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	cx, _ := startedPull(t, prov, cons)
	if _, err := cons.SuspendTransfer(ctx, cx.ID, "pause"); err != nil {
		t.Fatal(err)
	}
	waitTransfer(t, prov, cx.PeerPID, "SUSPENDED")
	b, err := s.sp.Batch(s.sp.Authority(), s.sp.Rules(policy.SpaceRules{NegativeList: []policy.NegativeEntry{{Category: "transport", Reason: "under review"}}}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.led.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := cons.ResumeTransfer(ctx, cx.ID); err != nil {
		t.Fatal(err) // the provider takes the request, then decides
	}
	px := waitTransfer(t, prov, cx.PeerPID, "TERMINATED")
	if px.Rule != policy.RuleNegativeList {
		t.Errorf("provider's rule %q, want %s", px.Rule, policy.RuleNegativeList)
	}
	waitTransfer(t, cons, cx.ID, "TERMINATED")
	if r := s.onLedger(t, "transfer.denied/"+cx.PeerPID); r.Rule != policy.RuleNegativeList {
		t.Errorf("transfer.denied %+v", r)
	}
}

// TestResumeRightAfterSuspend: a resume sent before the peer has the
// suspension waits for it, so the peer never takes the suspension after the
// resume; both sides end STARTED with a fresh token that pulls.
func TestResumeRightAfterSuspend(t *testing.T) {
	_, prov, cons := twoNodes(t)
	ctx := context.Background()
	_, offerID := provider(t, prov, false)
	ag := agree(t, prov, cons, offerID)
	for i, who := range []string{"consumer", "provider"} {
		x, err := cons.StartTransfer(ctx, ag, "")
		if err != nil {
			t.Fatal(err)
		}
		cx := waitTransfer(t, cons, x.ID, "STARTED")
		if i > 0 {
			if _, err := prov.SuspendTransfer(ctx, cx.PeerPID, "blink"); err != nil {
				t.Fatal(err)
			}
			if _, err := prov.ResumeTransfer(ctx, cx.PeerPID); err != nil {
				t.Fatalf("%s: resume right after suspend: %v", who, err)
			}
		} else {
			if _, err := cons.SuspendTransfer(ctx, cx.ID, "blink"); err != nil {
				t.Fatal(err)
			}
			if _, err := cons.ResumeTransfer(ctx, cx.ID); err != nil {
				t.Fatalf("%s: resume right after suspend: %v", who, err)
			}
		}
		cx2 := waitTransfer(t, cons, cx.ID, "STARTED")
		waitTransfer(t, prov, cx.PeerPID, "STARTED")
		// Nothing late arrives to suspend either side again.
		time.Sleep(100 * time.Millisecond)
		for _, n := range []struct {
			node *testNode
			id   string
		}{{cons, cx.ID}, {prov, cx.PeerPID}} {
			if x, err := n.node.Store().View(ctx).Transfer(n.id); err != nil || x.State != "STARTED" {
				t.Fatalf("%s: %s's transfer after the resume: %v %+v", who, n.node.id, err, x)
			}
		}
		if err := pullWith(cons, cx2, dataAddress(t, cx2).Property("authorization"), filepath.Join(t.TempDir(), "o")); err != nil {
			t.Fatalf("%s: pull after the resume: %v", who, err)
		}
	}
}
