package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/ledger/fabric"
	"github.com/tdsc/tdsc/ledger/fabric/fabrictest"
)

// TestFabricVerifyCLI (Fabric tier: scripts/fabric-test.sh) writes a space
// with `tdsc bench fabric`, then audits it from the blocks with `tdsc fabric
// verify` from each organisation's peer and with `tdsc audit verify --ledger
// fabric`: the same records and root every time, the blocks signed under
// the channel's BlockValidation policy; the channel's genesis block pinned
// by the hash the report gives or by its file, another refused at block 0;
// an --org the profile does not have is refused naming the flag. Then `tdsc fabric index check` finds
// an index file a ledger's follower wrote whole, and names a missing one.
// `tdsc fabric orderers` finds the network's orderer answering.
func TestFabricVerifyCLI(t *testing.T) {
	profile := fabrictest.Profile(t)
	out, logged, err := runLedgerCLIOut(t, "bench", "fabric", "--profile", profile, "--records", "3000", "--batch", "250", "--streams", "4", "-o", "json")
	if err != nil {
		t.Fatalf("bench: %v\n%s%s", err, out, logged)
	}
	var bench struct {
		Records   int    `json:"records"`
		Chaincode string `json:"chaincode"`
	}
	if err := json.Unmarshal([]byte(out), &bench); err != nil || bench.Chaincode == "" {
		t.Fatalf("bench output %q: %v", out, err)
	}
	var root, genesisHash, ordering string
	for _, org := range []string{"0", "1"} {
		out, err := runLedgerCLI(t, "fabric", "verify", "--profile", profile, "--chaincode", bench.Chaincode, "--org", org, "-o", "json")
		if err != nil {
			t.Fatalf("fabric verify --org %s: %v\n%s", org, err, out)
		}
		var rep struct {
			Blocks          uint64               `json:"blocks"`
			Txs             int                  `json:"transactions"`
			Records         int                  `json:"records"`
			Root            string               `json:"root"`
			Definitions     int                  `json:"definitions"`
			Policy          string               `json:"endorsementPolicy"`
			BlockValidation string               `json:"blockValidation"`
			BlockSigners    int                  `json:"blockSigners"`
			Ordering        string               `json:"ordering"`
			ChannelGenesis  string               `json:"channelGenesis"`
			CommitHash      string               `json:"commitHash"`
			Peers           []fabric.PeerCommit  `json:"peers"`
			Head            string               `json:"head"`
			Orderers        []fabric.OrdererHead `json:"orderers"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Records != bench.Records || rep.Txs == 0 || rep.Root == "" || (root != "" && rep.Root != root) {
			t.Fatalf("fabric verify --org %s: %q (%v), want %d records and root %s", org, out, err, bench.Records, root)
		}
		// A Raft cluster's blocks are signed by its leader under ANY
		// Writers; a BFT cluster's (scripts/fabric.sh of
		// TDSC_FABRIC_CONSENSUS=bft: four orderers) by a quorum of three
		// of its consenters, each named by its identity.
		blockValidation, signers := "/Channel/Orderer/BlockValidation (ANY Writers)", 1
		if strings.HasPrefix(rep.Ordering, "BFT") {
			blockValidation, signers = "/Channel/Orderer/BlockValidation (OutOf(3, 'OrdererMSP:orderer.orderer.tdsc.local', ", 3
		} else if !strings.HasPrefix(rep.Ordering, "etcdraft, ") {
			t.Fatalf("fabric verify --org %s: ordering %q", org, rep.Ordering)
		}
		if !strings.HasPrefix(rep.BlockValidation, blockValidation) || rep.BlockSigners < signers || len(rep.ChannelGenesis) != 64 {
			t.Fatalf("fabric verify --org %s: blocks of %s signed under %q by %d orderer identities, genesis block %q", org, rep.Ordering, rep.BlockValidation, rep.BlockSigners, rep.ChannelGenesis)
		}
		// Every organisation's peer holds the commit hash the audit
		// recomputed from the flags and writes.
		if len(rep.CommitHash) != 64 || len(rep.Peers) < 2 || slices.ContainsFunc(rep.Peers, func(p fabric.PeerCommit) bool { return !p.Agrees }) {
			t.Fatalf("fabric verify --org %s: commit hash %q, peers %+v", org, rep.CommitHash, rep.Peers)
		}
		genesisHash, ordering = rep.ChannelGenesis, rep.Ordering
		// Every orderer ordered the chain read: its block at the last
		// number has the audited header hash.
		if len(rep.Head) != 64 || len(rep.Orderers) == 0 || slices.ContainsFunc(rep.Orderers, func(h fabric.OrdererHead) bool { return !h.Agrees || h.Height < rep.Blocks }) {
			t.Fatalf("fabric verify --org %s: head %q, orderers %+v", org, rep.Head, rep.Orderers)
		}
		// The bench's chaincode, defined once by scripts/fabric.sh deploy
		// with every organisation's peer.
		if rep.Definitions != 1 || !strings.Contains(rep.Policy, "'Org1MSP.peer'") {
			t.Fatalf("fabric verify --org %s: endorsement policy %q from %d definitions, want scripts/fabric.sh's from 1", org, rep.Policy, rep.Definitions)
		}
		root = rep.Root
	}
	out, err = runLedgerCLI(t, "audit", "verify", "--ledger", "fabric:"+profile, "--chaincode", bench.Chaincode)
	if err != nil || !strings.Contains(out, "ledger whole") || !strings.Contains(out, root) {
		t.Fatalf("audit verify --ledger fabric: %v\n%s", err, out)
	}
	// The channel's genesis block pinned: by the hash the report gave, by
	// the block file the peers joined with; another is refused at block 0.
	other := strings.Repeat("0", 64)
	for _, pin := range []string{genesisHash, filepath.Join(filepath.Dir(profile), "audit.block"), other} {
		out, err = runLedgerCLI(t, "audit", "verify", "--ledger", "fabric:"+profile, "--chaincode", bench.Chaincode, "--channel-genesis", pin)
		if want := pin != other; want != (err == nil) || (!want && !strings.Contains(err.Error(), "block 0: the channel's genesis block hashes to "+genesisHash+", not the pinned "+other)) {
			t.Fatalf("--channel-genesis %s: %v\n%s", pin, err, out)
		}
	}
	// The text report names the peers and the orderers that agree.
	out, err = runLedgerCLI(t, "fabric", "verify", "--profile", profile, "--chaincode", bench.Chaincode)
	if err != nil || !strings.Contains(out, "; peers holding its commit hash at block ") || !strings.Contains(out, "; orderers that ordered block ") || !strings.Contains(out, root) {
		t.Fatalf("fabric verify: %v\n%s", err, out)
	}
	if _, err := runLedgerCLI(t, "fabric", "verify", "--profile", profile, "--chaincode", bench.Chaincode, "--org", "7"); err == nil || !strings.Contains(err.Error(), "--org 7") {
		t.Fatalf("--org 7: %v", err)
	}
	fabricEndorsersCLI(t, profile, bench.Chaincode)
	// The orderers, as the channel's configuration names them: the
	// network's one answers with the channel's height.
	out, err = runLedgerCLI(t, "fabric", "orderers", "--profile", profile)
	if p, _ := fabric.LoadProfile(profile); err != nil || p == nil || !strings.Contains(out, p.Orderer.Address+" (") || !strings.Contains(out, "answers: the channel holds ") {
		t.Fatalf("fabric orderers: %v\n%s", err, out)
	}
	// Of a BFT cluster of four, a quorum of three must answer.
	consensus, need := "etcdraft", 1
	if strings.HasPrefix(ordering, "BFT") {
		consensus, need = "BFT", 3
		if !strings.Contains(out, "a BFT cluster of 4: 3 must answer for the channel to order\n") {
			t.Fatalf("fabric orderers of %s: no quorum line\n%s", ordering, out)
		}
		// The profile names the orderers' operations endpoints: each
		// one's SmartBFT view is read, and an idle cluster is level.
		if strings.Count(out, ", level\n") != 4 || !strings.Contains(out, "level: 4 of 4 consenters; one may stop, leaving 3 level (the quorum needs 3)\n") {
			t.Fatalf("fabric orderers of %s: want four orderers level, one may stop\n%s", ordering, out)
		}
		// A profile without them (an operator's own) is told how to name
		// them, and no orderer is called level or not.
		bare, err := fabric.LoadProfile(profile)
		if err != nil {
			t.Fatal(err)
		}
		bare.OrdererOperations = nil
		b, err := json.Marshal(bare)
		if err != nil {
			t.Fatal(err)
		}
		bareFile := filepath.Join(t.TempDir(), "profile.json")
		if err := os.WriteFile(bareFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := runLedgerCLI(t, "fabric", "orderers", "--profile", bareFile)
		if err != nil || !strings.Contains(out, "SmartBFT views not read: the profile names no orderer's operations endpoint (field ordererOperations") || strings.Contains(out, ", level") || strings.Contains(out, "level: ") {
			t.Fatalf("fabric orderers of %s, a profile without ordererOperations: %v\n%s", ordering, err, out)
		}
	}
	out, err = runLedgerCLI(t, "fabric", "orderers", "--profile", profile, "-o", "json")
	var answers fabric.OrdererAnswers
	if err != nil || json.Unmarshal([]byte(out), &answers) != nil || answers.Consensus != consensus || answers.Need != need || answers.Err() != nil {
		t.Fatalf("fabric orderers -o json, %s: %+v (%v)\n%s", ordering, answers, err, out)
	}

	// An index file a ledger's follower wrote, checked against the blocks.
	p, err := fabric.LoadProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "index")
	ctx := context.Background()
	l, err := fabric.Open(ctx, fabric.Config{Profile: p, Chaincode: bench.Chaincode, IndexFile: file})
	if err != nil {
		t.Fatal(err)
	}
	h, err := l.Head(ctx) // once the follower holds every block
	l.Close(ctx)
	if err != nil || h.Size != uint64(bench.Records) {
		t.Fatalf("head %d (%v), want %d", h.Size, err, bench.Records)
	}
	out, err = runLedgerCLI(t, "fabric", "index", "check", "--profile", profile, "--chaincode", bench.Chaincode, "--index", file, "--org", "1")
	if err != nil || !strings.Contains(out, "is whole") || !strings.Contains(out, fmt.Sprintf("%d records", bench.Records)) {
		t.Fatalf("fabric index check: %v\n%s", err, out)
	}
	if _, err := runLedgerCLI(t, "fabric", "index", "check", "--profile", profile, "--chaincode", bench.Chaincode, "--index", file+".none"); err == nil || !strings.Contains(err.Error(), "index file") {
		t.Fatalf("a missing index file: %v", err)
	}
}

// fabricEndorsersCLI: `tdsc fabric endorsers` on the network's own profile
// finds it asking what the chaincode's policy needs; with endorsersNeeded 1
// a transaction asks as many as the policy needs (every tier's policy
// needs two or more) and the text says the service raises it, and that
// every endorser's peer runs the chaincode now; a profile listing Org1
// alone exits non-zero naming the field endorsers.
func fabricEndorsersCLI(t *testing.T, profile, chaincode string) {
	p, err := fabric.LoadProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Endorsers) < 2 {
		t.Fatalf("the network's profile lists %v: want its endorsers", p.Endorsers)
	}
	endorsers := func(p *fabric.Profile, args ...string) (*fabric.EndorsersReport, string, error) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "profile.json")
		data, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := runLedgerCLI(t, append([]string{"fabric", "endorsers", "--profile", path, "--chaincode", chaincode}, args...)...)
		var rep fabric.EndorsersReport
		if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil || rep.Chaincode != chaincode {
			return nil, out, err
		}
		return &rep, out, err
	}
	rep, out, err := endorsers(p, "-o", "json")
	if err != nil || rep == nil || rep.Asked != p.EndorsersAsked() || rep.Enough < 2 || rep.Enough > rep.Asked || !strings.Contains(rep.Policy, "(") {
		t.Fatalf("fabric endorsers, the network's profile: %v\n%s", err, out)
	}
	enough := rep.Enough
	one := *p
	one.EndorsersNeeded = 1
	if rep, out, err = endorsers(&one, "-o", "json"); err != nil || rep == nil || rep.Asked != enough || rep.EndorsersNeeded != 1 {
		t.Fatalf("fabric endorsers, endorsersNeeded 1: %v\n%s; want %d asked", err, out, enough)
	}
	if _, out, err = endorsers(&one); err != nil || !strings.Contains(out, fmt.Sprintf("a transaction asks %d: the policy needs more than the profile's endorsersNeeded 1", enough)) ||
		!strings.Contains(out, "every endorser's peer runs the chaincode now") {
		t.Fatalf("fabric endorsers, endorsersNeeded 1, text: %v\n%s", err, out)
	}
	alone := *p
	alone.Endorsers, alone.EndorsersNeeded = p.Endorsers[:1], 0
	if _, out, err = endorsers(&alone); err == nil || !strings.Contains(err.Error(), "field endorsers: the peers of "+p.Endorsers[0]+", every endorser listed, do not satisfy") {
		t.Fatalf("fabric endorsers, %s alone: %v\n%s; want it refused naming the field endorsers", p.Endorsers[0], err, out)
	}
}
