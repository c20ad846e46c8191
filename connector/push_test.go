package connector_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/policy"
)

// pushProvider registers a dataset of size random bytes with its hash (with
// wrongHash the file then changes on disk) and the research offer, and
// returns the data.
func pushProvider(t *testing.T, n *testNode, size int, wrongHash bool) ([]byte, string) {
	t.Helper()
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(n.dir, "big.bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := n.AddDataset(ctx, connector.NewDataset{ID: "ds-big", Title: "Big", Classification: "general",
		Category: "transport", ContentHash: contentHash(data), Source: "file:big.bin"})
	if err != nil {
		t.Fatal(err)
	}
	if wrongHash { // the file changes on disk after registration
		data[0] ^= 0xff
		if err := os.WriteFile(filepath.Join(n.dir, "big.bin"), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o, err := n.AddOffer(ctx, connector.NewOffer{Dataset: d.ID, Policy: json.RawMessage(researchOffer)})
	if err != nil {
		t.Fatal(err)
	}
	return data, o.ID
}

func agree(t *testing.T, prov, cons *testNode, offerID string) string {
	t.Helper()
	neg, err := cons.StartNegotiation(context.Background(), connector.StartNegotiation{ProviderURL: prov.url(), Offer: offerID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	return waitNeg(t, cons, neg.ID, "FINALIZED").AgreementID
}

// TestPushTransfer: the provider pushes 8 MiB to the consumer's receiver once
// transfer.authorized is committed; both record the bytes and the hash.
func TestPushTransfer(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	data, offerID := pushProvider(t, prov, 8<<20, false)
	cat, err := cons.RemoteCatalog(ctx, prov.url(), "")
	if err != nil {
		t.Fatal(err)
	}
	var formats []string
	for _, d := range cat.Dataset[0].Distribution {
		formats = append(formats, d.Format)
	}
	if strings.Join(formats, ",") != "HttpData-PULL,HttpData-PUSH" {
		t.Fatalf("distribution formats = %v", formats)
	}
	ag := agree(t, prov, cons, offerID)
	x, err := cons.StartTransfer(ctx, ag, "HttpData-PUSH")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "COMPLETED")
	px := waitTransfer(t, prov, cx.PeerPID, "COMPLETED")
	got, err := os.ReadFile(cons.ReceivedPath(x.ID))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes (err %v), want the %d pushed", len(got), err, len(data))
	}
	auth := s.onLedger(t, "transfer.authorized/"+px.ID)
	var addr dsp.DataAddress
	if err := json.Unmarshal(cx.DataAddress, &addr); err != nil || addr.Endpoint != cons.url()+"/push/"+x.ID {
		t.Fatalf("consumer's push address = %s (%v)", cx.DataAddress, err)
	}
	if auth.TokenID == "" || auth.TokenID != cx.TokenID {
		t.Fatalf("transfer.authorized token %q, the consumer issued %q", auth.TokenID, cx.TokenID)
	}
	// The push token alone, with a proof by another key, is refused at the
	// receiver, and the consumer records the denial against the provider.
	tok := addr.Property("authorization")
	req, _ := http.NewRequest(http.MethodPut, addr.Endpoint, strings.NewReader("forged"))
	proof, _ := identity.DPoPProof(cons.key, http.MethodPut, addr.Endpoint, tok)
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("push with the wrong key's proof: %d, want 401", resp.StatusCode)
	}
	eventually(t, "the consumer's transfer.denied", func() (bool, string) {
		p, err := s.led.Query(ctx, ledger.Query{Transfer: px.ID, Kind: ledger.KindTransferDenied})
		if err != nil || len(p.Records) != 1 {
			return false, fmt.Sprint("records: ", err)
		}
		r := p.Records[0].Record
		return r.Actor == cons.id && r.Counterparty == prov.id && r.Rule == "dataplane.proof-invalid", fmt.Sprintf("%+v", r)
	})
	if got, _ := os.ReadFile(cons.ReceivedPath(x.ID)); !bytes.Equal(got, data) {
		t.Fatal("a refused push touched the received file")
	}
	s.onLedger(t, "usage.logged/"+x.ID)
	for _, who := range []*testNode{prov, cons} {
		r := s.onLedger(t, "transfer.completed/"+px.ID+"/"+who.id)
		if r.Actor != who.id || r.Transfer != px.ID || r.Bytes != int64(len(data)) || r.ContentHash != contentHash(data) ||
			r.Decision != ledger.DecisionAllow {
			t.Fatalf("%s's transfer.completed = %+v", who.id, r)
		}
	}
}

// TestPushHashMismatch: the pushed bytes do not hash to the registered hash;
// the consumer keeps them aside and both records say so.
func TestPushHashMismatch(t *testing.T) {
	s, prov, cons := twoNodes(t)
	_, offerID := pushProvider(t, prov, 1<<20, true)
	ag := agree(t, prov, cons, offerID)
	x, err := cons.StartTransfer(context.Background(), ag, "HttpData-PUSH")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "TERMINATED")
	if !strings.Contains(cx.Reason, "hash") {
		t.Fatalf("consumer's reason = %q", cx.Reason)
	}
	if _, err := os.Stat(cons.ReceivedPath(x.ID) + ".rejected"); err != nil {
		t.Fatalf("mismatching push not kept aside: %v", err)
	}
	for _, who := range []*testNode{prov, cons} {
		r := s.onLedger(t, "transfer.completed/"+cx.PeerPID+"/"+who.id)
		if r.Decision != ledger.DecisionDeny || r.Rule != "transfer.hash-mismatch" || !strings.Contains(r.Reason, "hash-mismatch") {
			t.Fatalf("%s's transfer.completed = %+v", who.id, r)
		}
	}
}

// TestPushRefusedRevoked: a push under a revoked agreement is refused and
// recorded as denied.
func TestPushRefusedRevoked(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	_, offerID := pushProvider(t, prov, 1<<20, false)
	ag := agree(t, prov, cons, offerID)
	if _, err := prov.Revoke(ctx, ag, "purpose breached"); err != nil {
		t.Fatal(err)
	}
	s.onLedger(t, "agreement.revoked/"+ag)
	x, err := cons.StartTransfer(ctx, ag, "HttpData-PUSH")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "TERMINATED")
	if !strings.Contains(cx.Reason, "revoked") {
		t.Fatalf("consumer's reason = %q", cx.Reason)
	}
	eventually(t, "transfer.denied for the push on the ledger", func() (bool, string) {
		p, err := s.led.Query(ctx, ledger.Query{Agreement: ag, Kind: ledger.KindTransferDenied})
		if err != nil || len(p.Records) != 1 {
			return false, "no record yet"
		}
		r := p.Records[0].Record
		return r.Actor == prov.id && r.Counterparty == cons.id && r.Rule == "agreement.revoked", ""
	})
	if _, err := os.Stat(cons.ReceivedPath(x.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused push left a file: %v", err)
	}
}

// TestReceiptMismatch: the consumer received bytes that do not hash to the
// registered hash the provider named; it sees the error and the ledger keeps
// its record, decision deny.
func TestReceiptMismatch(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	_, offerID := provider(t, prov, false)
	ag := agree(t, prov, cons, offerID)
	x, err := cons.StartTransfer(ctx, ag, "")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "STARTED")
	wrong := strings.Repeat("ab", 32)
	rec, err := cons.RecordReceipt(ctx, x.ID, connector.Receipt{Bytes: 3, ContentHash: testSuite.HashName() + ":" + wrong})
	if !errors.Is(err, connector.ErrReceiptMismatch) || rec == nil {
		t.Fatalf("receipt of the wrong bytes: %v", err)
	}
	r := s.onLedger(t, "transfer.completed/"+cx.PeerPID+"/"+cons.id)
	if r.Decision != ledger.DecisionDeny || r.Rule != "transfer.hash-mismatch" || r.ContentHash != testSuite.HashName()+":"+wrong || !strings.Contains(r.Reason, "registered") {
		t.Fatalf("consumer's transfer.completed = %+v", r)
	}
	if _, err := cons.RecordReceipt(ctx, x.ID, connector.Receipt{Bytes: 3, ContentHash: testSuite.HashName() + ":nothex"}); err == nil {
		t.Fatal("a receipt without a SHA-256 was taken")
	}
}

// TestPushRecheckedByConsumer: the consumer re-checks every push after the
// token verified: a push to a transfer already completed, or under an
// agreement the consumer revoked, is refused and recorded against the provider.
func TestPushRecheckedByConsumer(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	_, offerID := pushProvider(t, prov, 64<<10, false)
	ag := agree(t, prov, cons, offerID)
	x, err := cons.StartTransfer(ctx, ag, "HttpData-PUSH")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "COMPLETED")
	var addr dsp.DataAddress
	if err := json.Unmarshal(cx.DataAddress, &addr); err != nil {
		t.Fatal(err)
	}
	push := func() int {
		tok := addr.Property("authorization")
		req, _ := http.NewRequest(http.MethodPut, addr.Endpoint, strings.NewReader("again"))
		proof, _ := identity.DPoPProof(prov.key, http.MethodPut, addr.Endpoint, tok)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	denied := func(rule string) {
		t.Helper()
		eventually(t, "the consumer's transfer.denied by "+rule, func() (bool, string) {
			p, err := s.led.Query(ctx, ledger.Query{Transfer: cx.PeerPID, Kind: ledger.KindTransferDenied})
			if err != nil {
				return false, err.Error()
			}
			for _, e := range p.Records {
				r := e.Record
				if r.Rule == rule && r.Actor == cons.id && r.Counterparty == prov.id && r.Agreement == ag {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d denials", len(p.Records))
		})
	}
	if st := push(); st != http.StatusNotFound {
		t.Fatalf("push to a completed transfer: %d, want 404", st)
	}
	denied("dataplane.unknown-transfer")
	if _, err := cons.Revoke(ctx, ag, "no longer needed"); err != nil {
		t.Fatal(err)
	}
	if st := push(); st != http.StatusForbidden {
		t.Fatalf("push under a revoked agreement: %d, want 403", st)
	}
	denied("dataplane.agreement-revoked")
}

// TestReceiptCheckedAgainstTheLedger: the provider's own store (and so the
// hash it names in the data address) disagrees with what it registered on
// the ledger. The consumer pulls bytes that match the provider's word, but
// its receipt is checked against the ledger's registration: refused and
// recorded as a mismatch.
func TestReceiptCheckedAgainstTheLedger(t *testing.T) {
	s, prov, cons := twoNodes(t)
	ctx := context.Background()
	// On the ledger, dataset ds-traffic is registered with another hash.
	ledgerSum := hashOf([]byte("what was registered"))
	rec := s.sp.Dataset(prov.id, "ds-traffic", policy.General, "transport")
	rec.ContentHash = contentHash([]byte("what was registered"))
	b, err := s.sp.Batch(prov.id, rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.led.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	_, offerID := provider(t, prov, false) // its own dataset.registered is refused as a duplicate
	ag := agree(t, prov, cons, offerID)
	x, err := cons.StartTransfer(ctx, ag, "")
	if err != nil {
		t.Fatal(err)
	}
	cx := waitTransfer(t, cons, x.ID, "STARTED")
	addr := dataAddress(t, cx)
	tok := addr.Property("authorization")
	res, err := pull.Download(ctx, addr.Endpoint, tok, dataplane.KeyProof(cons.key, tok), filepath.Join(t.TempDir(), "o"))
	if err != nil {
		t.Fatalf("the bytes match the provider's stated hash: %v", err)
	}
	got, err := cons.RecordReceipt(ctx, x.ID, connector.Receipt{Bytes: res.Size, ContentHash: res.Algorithm + ":" + res.Sum})
	if !errors.Is(err, connector.ErrReceiptMismatch) {
		t.Fatalf("receipt: %v, want ErrReceiptMismatch against the ledger's registration", err)
	}
	if got.Decision != ledger.DecisionDeny || !strings.Contains(got.Reason, ledgerSum) {
		t.Errorf("consumer's transfer.completed %+v: want a denial naming the ledger's hash", got)
	}
	onLedger := s.onLedger(t, "transfer.completed/"+cx.PeerPID+"/"+cons.id)
	if onLedger.Rule != "transfer.hash-mismatch" {
		t.Errorf("on the ledger: %+v", onLedger)
	}
}
