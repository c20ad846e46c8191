package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"
)

// newFabricNetCmds are `tdsc fabric up|down|status|restart|clean|deploy`:
// the local development network of scripts/fabric.sh (Fabric built from the
// Go module proxy, no Docker), run from the tdsc checkout the command is
// started in (or below).
func newFabricNetCmds() []*cobra.Command {
	var cmds []*cobra.Command
	for _, c := range []struct{ verb, short string }{
		{"up", "Build Fabric from the module proxy (cached) and start a local network: orderer, a peer per org, channel, chaincode services"},
		{"down", "Stop the local network's processes"},
		{"status", "Show what runs, the block height and the chaincode definitions"},
		{"restart", "Start a stopped network again on its existing ledger"},
		{"clean", "Stop the network and delete its directory"},
		{"deploy", "Define a chaincode NAME on the channel (one per space), endorsed by every org; or redefine it with POLICY (Fabric's policy language) at the definition's next SEQUENCE"},
	} {
		args := cobra.NoArgs
		use := c.verb
		if c.verb == "deploy" {
			args, use = deployArgs, "deploy NAME [POLICY SEQUENCE]"
		}
		cmds = append(cmds, &cobra.Command{
			Use:   use,
			Short: c.short,
			Long: c.short + `.

Runs scripts/fabric.sh ` + c.verb + ` of the tdsc checkout that holds the current
directory; settings as in that script (TDSC_FABRIC_ORGS, TDSC_FABRIC_PORT,
TDSC_FABRIC_DIR, ...) and docs/fabric.md.`,
			Args: args,
			RunE: func(cmd *cobra.Command, a []string) error {
				script, err := fabricScript()
				if err != nil {
					return err
				}
				x := exec.CommandContext(cmd.Context(), "bash", append([]string{script, c.verb}, a...)...)
				x.Dir = filepath.Dir(filepath.Dir(script))
				x.Stdin, x.Stdout, x.Stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
				if err := x.Run(); err != nil {
					return fmt.Errorf("scripts/fabric.sh %s: %w", c.verb, err)
				}
				return nil
			},
		})
	}
	return cmds
}

// deployArgs takes NAME, or NAME POLICY SEQUENCE (a redefinition).
func deployArgs(_ *cobra.Command, a []string) error {
	switch {
	case len(a) != 1 && len(a) != 3:
		return fmt.Errorf("deploy takes NAME, or NAME POLICY SEQUENCE to redefine it: got %d arguments", len(a))
	case len(a) == 3:
		if n, err := strconv.Atoi(a[2]); err != nil || n < 2 {
			return fmt.Errorf("argument SEQUENCE: %q is not a definition's next sequence number (an integer, 2 or more)", a[2])
		}
	}
	return nil
}

// fabricScript finds scripts/fabric.sh of the tdsc checkout holding the
// working directory.
func fabricScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(mod, []byte("module github.com/tdsc/tdsc\n")) {
			script := filepath.Join(dir, "scripts", "fabric.sh")
			if _, err := os.Stat(script); err != nil {
				return "", fmt.Errorf("the tdsc checkout at %s has no scripts/fabric.sh: %w", dir, err)
			}
			return script, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("fabric up|down|…: run it inside a tdsc checkout (it drives scripts/fabric.sh, which builds Fabric from the Go module proxy)")
		}
		dir = parent
	}
}
