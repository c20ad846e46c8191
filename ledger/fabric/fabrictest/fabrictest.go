// Package fabrictest is the Fabric tier's guard for tests that need a real
// network: scripts/fabric-test.sh starts one and runs them with TDSC_FABRIC=1
// and TDSC_FABRIC_PROFILE set; without it they skip, saying how to run
// them. It is imported by tests only.
package fabrictest

import (
	"os"
	"path/filepath"
	"testing"
)

// Profile returns the path of the running network's profile, or skips t:
// TDSC_FABRIC_PROFILE, or the default network's (.cache/fabric/net under
// the module's root, where scripts/fabric.sh up writes it).
func Profile(t testing.TB) string {
	t.Helper()
	if os.Getenv("TDSC_FABRIC") != "1" {
		t.Skip("Fabric tier: run scripts/fabric-test.sh (or set TDSC_FABRIC=1, and TDSC_FABRIC_PROFILE unless scripts/fabric.sh up's default network is up)")
	}
	if p := os.Getenv("TDSC_FABRIC_PROFILE"); p != "" {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".cache", "fabric", "net", "profile.json")
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("Fabric tier: no go.mod above the test's directory to find the default network's profile; set TDSC_FABRIC_PROFILE")
		}
		dir = up
	}
}

// Changing is Profile for a test that stops or changes the network: it
// runs only with the environment variable env set to 1 as well
// (scripts/fabric-test.sh sets it for the last tests), else it skips,
// saying what the test does.
func Changing(t testing.TB, env, does string) string {
	t.Helper()
	p := Profile(t)
	if os.Getenv(env) != "1" {
		t.Skipf("%s: set %s=1", does, env)
	}
	return p
}
