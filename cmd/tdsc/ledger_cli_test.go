package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runLedgerCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
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
