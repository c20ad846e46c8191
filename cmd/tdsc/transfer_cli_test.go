package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tdsc/tdsc/connector"
	capi "github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/store"
	"github.com/tdsc/tdsc/connector/store/storetest"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/policy"
)

const cliOpToken = "operator-token-for-cli-tests"

// cliNode starts a real connector on loopback for a participant of sp.
func cliNode(t *testing.T, sp *ledgertest.Space, led *embedded.Store, id, region string) *connector.Node {
	t.Helper()
	rec, err := sp.Participant(id, region)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sp.Batch(sp.Authority(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := led.Append(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := connector.Config{ParticipantID: id, Space: sp.Genesis.Space, Listen: ln.Addr().String(), DataDir: dir, DataSources: dir,
		RetryMin: 5 * time.Millisecond, RetryMax: 100 * time.Millisecond, StrictTimeout: 2 * time.Second}
	if storetest.Postgres() {
		cfg.DatabaseURL = storetest.Path(t, filepath.Join(dir, "connector.db"))
	}
	n, err := connector.New(context.Background(), cfg, connector.WithKey(sp.Keys[id]), connector.WithLedger(led),
		connector.WithParticipants(led), connector.WithRules(led), connector.WithRegisteredDatasets(led), connector.WithOperatorToken(cliOpToken),
		connector.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		n.Close(context.Background())
	})
	return n
}

// TestTransferStartPushAndPull runs `tdsc transfer start --push --wait` and
// `tdsc transfer start --out --key` against real nodes: the provider pushes
// 4 MiB into the consumer node, the CLI pulls it, and the ledger holds each
// party's transfer.completed for each transfer with the dataset's hash.
// cliSpace is a ledger, two connectors, a 4 MiB dataset of the provider's,
// a finalised agreement for it, and the consumer's key file.
type cliSpace struct {
	led                *embedded.Store
	prov, cons         *connector.Node
	agreement, keyFile string
	data               []byte
	hash               string
}

// cliAgreement builds a cliSpace; the CLI's operator token is set in the
// environment.
func cliAgreement(t *testing.T) cliSpace { return cliAgreementWith(t, "") }

// cliAgreementWith is cliAgreement; a non-empty ledgerHash is registered on
// the ledger for the dataset before the provider registers it (whose own
// dataset.registered is then refused as a duplicate): a provider whose word
// disagrees with the ledger.
func cliAgreementWith(t *testing.T, ledgerHash string) cliSpace {
	t.Helper()
	ctx := context.Background()
	sp, err := ledgertest.NewSpace()
	if err != nil {
		t.Fatal(err)
	}
	led, err := embedded.Open(ctx, t.TempDir(), sp.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close(context.Background()) })
	prov := cliNode(t, sp, led, "did:tdsc:bureau", "CN-BJ")
	cons := cliNode(t, sp, led, "did:tdsc:lab", "CN-SH")
	if ledgerHash != "" {
		rec := sp.Dataset(prov.ID(), "ds-counts", policy.General, "transport")
		rec.ContentHash = ledgerHash
		b, err := sp.Batch(prov.ID(), rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := led.Append(ctx, b); err != nil {
			t.Fatal(err)
		}
	}

	data := make([]byte, 4<<20)
	rand.Read(data)
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	srcDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(srcDir, "counts.bin"), data, 0o600); err != nil {
		t.Fatal(err)
	}
	ds, err := prov.AddDataset(ctx, connector.NewDataset{ID: "ds-counts", Title: "Counts", Classification: "general", Category: "transport",
		ContentHash: "sha256:" + hash, Source: "file:" + filepath.Join(srcDir, "counts.bin")})
	if err != nil {
		t.Fatal(err)
	}
	offer, err := prov.AddOffer(ctx, connector.NewOffer{Dataset: ds.ID, Policy: json.RawMessage(
		`{"@id":"offer-counts","@type":"Offer","permission":[{"action":"use","constraint":[{"leftOperand":"purpose","operator":"eq","rightOperand":"research"}]}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	neg, err := cons.StartNegotiation(ctx, connector.StartNegotiation{ProviderURL: prov.PublicURL(), Offer: offer.ID, Purpose: "research"})
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if neg, err = cons.WaitNegotiation(wctx, neg.ID); err != nil || neg.State != "FINALIZED" {
		t.Fatalf("negotiation: %+v %v", neg, err)
	}
	t.Setenv("TDSC_OPERATOR_TOKEN", cliOpToken)
	keyFile := filepath.Join(t.TempDir(), "lab.key")
	if err := sp.Keys[cons.ID()].Save(keyFile); err != nil {
		t.Fatal(err)
	}
	return cliSpace{led: led, prov: prov, cons: cons, agreement: neg.AgreementID, keyFile: keyFile, data: data, hash: hash}
}

func TestTransferStartPushAndPull(t *testing.T) {
	ctx := context.Background()
	cs := cliAgreement(t)
	led, prov, cons, agreement, data, hash := cs.led, cs.prov, cs.cons, cs.agreement, cs.data, cs.hash
	out, err := runLedgerCLI(t, "transfer", "start", "--api", cons.PublicURL(), "--agreement", agreement, "--push", "--wait", "-o", "json")
	if err != nil {
		t.Fatalf("transfer start --push: %v\n%s", err, out)
	}
	var x store.Transfer
	if err := json.Unmarshal([]byte(out), &x); err != nil || x.State != "COMPLETED" || x.Format != "HttpData-PUSH" {
		t.Fatalf("push transfer: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(cons.ReceivedPath(x.ID)); !bytes.Equal(got, data) {
		t.Fatalf("the consumer node received %d bytes, want the %d pushed", len(got), len(data))
	}

	pulled := filepath.Join(t.TempDir(), "counts.bin")
	out, err = runLedgerCLI(t, "transfer", "start", "--api", cons.PublicURL(), "--agreement", agreement, "--out", pulled, "--key", cs.keyFile)
	if err != nil || !strings.Contains(out, "pulled 4194304 bytes") {
		t.Fatalf("transfer start --out: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(pulled); !bytes.Equal(got, data) {
		t.Fatal("the pulled file differs")
	}

	// Two transfers, each completed once by each party with the dataset's hash.
	deadline := time.Now().Add(10 * time.Second)
	for {
		p, err := led.Query(ctx, ledger.Query{Kind: ledger.KindTransferCompleted})
		if err != nil {
			t.Fatal(err)
		}
		by := map[string]int{}
		for _, e := range p.Records {
			r := e.Record
			if r.Bytes != int64(len(data)) || r.ContentHash != "sha256:"+hash || r.Decision != ledger.DecisionAllow ||
				r.ID != "transfer.completed/"+r.Transfer+"/"+r.Actor {
				t.Fatalf("completion record %+v", r)
			}
			by[r.Actor]++
		}
		if by[prov.ID()] == 2 && by[cons.ID()] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("completions by party = %v, want 2 each", by)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTransferSuspendResumePull: `tdsc transfer suspend`, then `transfer
// pull` refused while suspended, `transfer resume --out` pulls with the fresh
// token, and `transfer pull` pulls again under the same transfer; the ledger
// holds one transfer.authorized for it.
func TestTransferSuspendResumePull(t *testing.T) {
	ctx := context.Background()
	cs := cliAgreement(t)
	led, cons, agreement, data, cliKeyFile := cs.led, cs.cons, cs.agreement, cs.data, cs.keyFile
	api := []string{"--api", cons.PublicURL()}
	run := func(args ...string) (string, error) { return runLedgerCLI(t, append(args, api...)...) }

	out, err := run("transfer", "start", "--agreement", agreement, "--wait", "-o", "json")
	var x store.Transfer
	if err != nil || json.Unmarshal([]byte(out), &x) != nil || x.State != "STARTED" {
		t.Fatalf("transfer start --wait: %v\n%s", err, out)
	}
	if out, err = run("transfer", "suspend", x.ID, "--reason", "maintenance"); err != nil || !strings.Contains(out, "SUSPENDED") {
		t.Fatalf("transfer suspend: %v\n%s", err, out)
	}
	pulled := filepath.Join(t.TempDir(), "counts.bin")
	if out, err = run("transfer", "pull", x.ID, "--out", pulled, "--key", cliKeyFile); err == nil || !strings.Contains(err.Error(), "not STARTED") {
		t.Fatalf("transfer pull of a suspended transfer: %v\n%s", err, out)
	}
	if out, err = run("transfer", "resume", x.ID, "--out", pulled, "--key", cliKeyFile); err != nil || !strings.Contains(out, "pulled 4194304 bytes") {
		t.Fatalf("transfer resume --out: %v\n%s", err, out)
	}
	again := filepath.Join(t.TempDir(), "again.bin")
	if out, err = run("transfer", "pull", x.ID, "--out", again, "--key", cliKeyFile); err != nil || !strings.Contains(out, "pulled 4194304 bytes") {
		t.Fatalf("transfer pull: %v\n%s", err, out)
	}
	for _, f := range []string{pulled, again} {
		if got, _ := os.ReadFile(f); !bytes.Equal(got, data) {
			t.Fatalf("%s differs from the dataset", f)
		}
	}
	if out, err = run("transfer", "resume", x.ID); err == nil || !strings.Contains(err.Error(), "STARTED") {
		t.Fatalf("resume of a started transfer: %v\n%s", err, out)
	}
	var cx store.Transfer
	if out, err = run("transfer", "status", x.ID, "-o", "json"); err != nil || json.Unmarshal([]byte(out), &cx) != nil {
		t.Fatalf("transfer status: %v\n%s", err, out)
	}
	p, err := led.Query(ctx, ledger.Query{Transfer: cx.PeerPID, Kind: ledger.KindTransferAuthorized})
	if err != nil || len(p.Records) != 1 {
		t.Fatalf("transfer.authorized records for %s: %v %+v", cx.PeerPID, err, p)
	}
	// The consumer's outbox: its records committed, none refused.
	var ob connector.OutboxStatus
	if out, err = run("outbox", "-o", "json"); err != nil || json.Unmarshal([]byte(out), &ob) != nil {
		t.Fatalf("outbox -o json: %v\n%s", err, out)
	}
	if !ob.LedgerHealthy || ob.Counts["refused"] != 0 || len(ob.Refused) != 0 {
		t.Errorf("consumer's outbox %+v", ob)
	}
	if out, err = run("outbox"); err != nil || !strings.Contains(out, "ledger reachable: true") {
		t.Fatalf("outbox: %v\n%s", err, out)
	}
	// Its identity: a node without a DID speaks tdsc tokens only.
	if out, err = run("identity"); err != nil || !strings.Contains(out, "participant: ") || !strings.Contains(out, "did:         none") {
		t.Fatalf("identity: %v\n%s", err, out)
	}
	// Every committed record, listed: at least as many as the counts said
	// (the outbox may have committed more since).
	var recs []capi.OutboxRecord
	if out, err = run("outbox", "--state", "committed", "-o", "json"); err != nil || json.Unmarshal([]byte(out), &recs) != nil {
		t.Fatalf("outbox --state committed -o json: %v\n%s", err, out)
	}
	if len(recs) == 0 || len(recs) < ob.Counts["committed"] {
		t.Errorf("outbox --state committed: %d records, the counts said %d", len(recs), ob.Counts["committed"])
	}
	for _, r := range recs {
		if r.State != "committed" {
			t.Errorf("outbox --state committed lists %s, %s", r.RecordID, r.State)
		}
	}
	if out, err = run("outbox", "--state", "lost"); err == nil || !strings.Contains(out+err.Error(), "state:") {
		t.Errorf("outbox --state lost: %v\n%s", err, out)
	}
}

// TestTransferPullChecksTheLedgerHash: the provider's data address names the
// hash of the bytes it serves, but the ledger holds another registration;
// `tdsc transfer start --out` checks against the ledger's (through its node)
// and reports the mismatch, and the receipt on the ledger says so too.
func TestTransferPullChecksTheLedgerHash(t *testing.T) {
	registered := sha256.Sum256([]byte("what the ledger holds"))
	want := "sha256:" + hex.EncodeToString(registered[:])
	cs := cliAgreementWith(t, want)
	h, src, err := cs.cons.ExpectedHash(context.Background(), "unknown")
	if err == nil {
		t.Fatalf("expected hash of an unknown transfer: %q %q", h, src)
	}
	out, err := runLedgerCLI(t, "transfer", "start", "--api", cs.cons.PublicURL(), "--agreement", cs.agreement,
		"--out", filepath.Join(t.TempDir(), "counts.bin"), "--key", cs.keyFile)
	if err == nil || !strings.Contains(err.Error(), "does not match the registered one") {
		t.Fatalf("pull whose bytes match the provider's word but not the ledger's: %v\n%s", err, out)
	}
	// The receipt reaches the ledger through the consumer's outbox.
	var mine []ledger.Record
	for deadline := time.Now().Add(10 * time.Second); len(mine) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p, err := cs.led.Query(context.Background(), ledger.Query{Kind: ledger.KindTransferCompleted, Participant: cs.cons.ID()})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Records {
			if e.Record.Actor == cs.cons.ID() {
				mine = append(mine, e.Record)
			}
		}
	}
	if len(mine) != 1 || mine[0].Rule != "transfer.hash-mismatch" || !strings.Contains(mine[0].Reason, want[7:]) {
		t.Errorf("consumer's completions %+v, want one hash-mismatch naming the ledger's hash", mine)
	}
}
