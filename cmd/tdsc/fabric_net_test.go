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

// TestFabricDeployArgs: `tdsc fabric deploy` takes NAME, or NAME POLICY
// SEQUENCE; anything else is refused before the script runs, naming the
// argument.
func TestFabricDeployArgs(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"space1"}, ""},
		{[]string{"space1", "OR('Org1MSP.peer')", "2"}, ""},
		{[]string{"space1", "OR('Org1MSP.peer')"}, "got 2 arguments"},
		{[]string{}, "got 0 arguments"},
		{[]string{"space1", "OR('Org1MSP.peer')", "two"}, `argument SEQUENCE: "two"`},
		{[]string{"space1", "OR('Org1MSP.peer')", "1"}, `argument SEQUENCE: "1"`},
	} {
		err := deployArgs(nil, c.args)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("deploy %q: got %v, want %q", c.args, err, c.want)
		}
	}
}
