package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
)

func runLedgerCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := execCLI(context.Background(), &out, &out, args...)
	return out.String(), err
}

// runLedgerCLIOut is runLedgerCLI with standard output and standard error
// apart: for output parsed as JSON by a command that may also log.
func runLedgerCLIOut(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = execCLI(context.Background(), &out, &errOut, args...)
	return out.String(), errOut.String(), err
}

// TestBenchThenAuditVerify writes a ledger with `tdsc bench ledger`, verifies
// it with `tdsc audit verify`, flips one byte of a committed record in the
// bbolt file, and expects verify to fail naming that record.
func TestBenchThenAuditVerify(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ledger")
	out, err := runLedgerCLI(t, "bench", "ledger", "--records", "3000", "--batch", "200", "--streams", "2", "--dir", dir, "-o", "json")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	var res struct {
		Records          int     `json:"records"`
		Seconds          float64 `json:"seconds"`
		RecordsPerSecond float64 `json:"recordsPerSecond"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Records < 3000 || res.RecordsPerSecond <= 0 {
		t.Fatalf("bench output %q: %v", out, err)
	}
	if out, err := runLedgerCLI(t, "audit", "verify", "--ledger", dir); err != nil || !strings.Contains(out, "ledger whole") {
		t.Fatalf("verify pristine: %v\n%s", err, out)
	}
	// --genesis pins the space's genesis: the ledger's own passes, another
	// space's is refused.
	raw, err := embedded.OpenRaw(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := raw.Genesis(context.Background())
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, space := range []string{g.Space, "another-space"} {
		pinned := g
		pinned.Space = space
		file := filepath.Join(t.TempDir(), "genesis.json")
		b, _ := json.Marshal(&pinned)
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := runLedgerCLI(t, "audit", "verify", "--ledger", dir, "--genesis", file)
		if want := space == g.Space; want != (err == nil) || (!want && !errors.Is(err, ledger.ErrGenesisMismatch)) {
			t.Fatalf("--genesis of space %s: %v\n%s", space, err, out)
		}
	}

	if _, err := runLedgerCLI(t, "audit", "verify", "--ledger", dir, "--channel-genesis", strings.Repeat("0", 64)); err == nil || err.Error() != "--channel-genesis: only with --ledger fabric (a channel's genesis block)" {
		t.Fatalf("--channel-genesis on a directory: %v", err)
	}

	// Flip one byte inside record rec-00001500 wherever its bytes lie in the file.
	path := filepath.Join(dir, "ledger.db")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	needle := []byte(`"id":"rec-00001500"`)
	n := 0
	for i := 0; ; {
		j := bytes.Index(data[i:], needle)
		if j < 0 {
			break
		}
		data[i+j+len(needle)+5] ^= 0x01 // a byte of the kind that follows the id
		i += j + 1
		n++
	}
	if n == 0 {
		t.Fatal("record rec-00001500 not found in the file")
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = runLedgerCLI(t, "audit", "verify", "--ledger", dir)
	if err == nil || !strings.Contains(err.Error(), "rec-00001500") {
		t.Fatalf("verify after a flipped byte: err %v (want it to name rec-00001500)\n%s", err, out)
	}
	t.Logf("verify says: %v", err)
}

// TestAuditVerifyFabricVkey: --vkey with --ledger fabric is refused before
// anything is read: the Fabric audit's tree heads are the blocks', not
// signed checkpoints.
func TestAuditVerifyFabricVkey(t *testing.T) {
	vkey := filepath.Join(t.TempDir(), "ledger.vkey")
	if err := os.WriteFile(vkey, []byte("tdsc+abc+xyz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := runLedgerCLI(t, "audit", "verify", "--ledger", "fabric:/nonexistent/profile.json", "--vkey", vkey)
	if err == nil || !strings.Contains(err.Error(), "--vkey: not used with --ledger fabric") {
		t.Fatalf("got %v, want --vkey refused with fabric", err)
	}
}
