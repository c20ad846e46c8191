package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFabricScript: `tdsc fabric up|down|…` finds the checkout's script from
// inside it, and says what to do from anywhere else.
func TestFabricScript(t *testing.T) {
	p, err := fabricScript()
	if err != nil || filepath.Base(p) != "fabric.sh" || filepath.Base(filepath.Dir(p)) != "scripts" {
		t.Fatalf("from the checkout: %q, %v", p, err)
	}
	t.Chdir(t.TempDir())
	if _, err := fabricScript(); err == nil || !strings.Contains(err.Error(), "inside a tdsc checkout") {
		t.Fatalf("outside a checkout: %v", err)
	}
	out, err := runLedgerCLI(t, "fabric", "status")
	if err == nil || !strings.Contains(err.Error(), "inside a tdsc checkout") {
		t.Fatalf("tdsc fabric status outside a checkout: %v\n%s", err, out)
	}
}
