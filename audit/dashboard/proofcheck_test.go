package dashboard_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/suite"
)

// TestBrowserProofCheckNode runs the dashboard's own proof-check code
// (web/src/merkle.js, with sm-crypto for SM3 and SM2) under Node.js against
// records of a real ledger in both suites, and against a proof with one
// flipped byte and a note signed by another key, which it must refuse. It
// needs node and the front end's packages (scripts/dashboard-build.sh runs
// npm ci); it skips without them.
func TestBrowserProofCheckNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	if _, err := os.Stat(filepath.Join("web", "node_modules", "sm-crypto")); err != nil {
		t.Skip("the front end's packages are not installed (scripts/dashboard-build.sh)")
	}
	for _, cs := range []*suite.Suite{suite.Intl, suite.GM} {
		t.Run(cs.Name(), func(t *testing.T) {
			sc := newSuiteScenario(t, cs)
			p, err := sc.store.Record(context.Background(), sc.crossBorder)
			if err != nil {
				t.Fatal(err)
			}
			canon, err := p.Record.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			proof := make([]string, len(p.Proof))
			for i, h := range p.Proof {
				proof[i] = hex.EncodeToString(h)
			}
			_, otherKey, _ := cs.GenerateNoteKey("tdsc/ledger/space-1")
			run := func(name string, edit func(m map[string]any)) string {
				m := map[string]any{"canon": base64.StdEncoding.EncodeToString(canon), "index": p.Index, "size": p.TreeSize,
					"proof": append([]string(nil), proof...), "note": string(p.Checkpoint), "vkey": sc.store.VerifierKey()}
				edit(m)
				f := filepath.Join(t.TempDir(), name+".json")
				data, _ := json.Marshal(m)
				if err := os.WriteFile(f, data, 0o600); err != nil {
					t.Fatal(err)
				}
				out, _ := exec.Command(node, "--no-warnings", filepath.Join("testdata", "proofcheck.mjs"), f).Output()
				return strings.TrimSpace(string(out))
			}
			if got := run("good", func(map[string]any) {}); got != "ok "+cs.Name() {
				t.Fatalf("the browser check refuses a good record: %s", got)
			}
			if got := run("flipped", func(m map[string]any) {
				pr := m["proof"].([]string)
				b, _ := hex.DecodeString(pr[0])
				b[0] ^= 1
				pr[0] = hex.EncodeToString(b)
			}); !strings.HasPrefix(got, "refused: proof leads to") {
				t.Fatalf("a flipped proof byte: %s", got)
			}
			if got := run("otherkey", func(m map[string]any) { m["vkey"] = otherKey }); !strings.HasPrefix(got, "refused:") {
				t.Fatalf("a checkpoint under another key: %s", got)
			}
		})
	}
}
