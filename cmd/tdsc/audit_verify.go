package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/internal/gctune"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/fabric"
	"github.com/tdsc/tdsc/ledger/verify"
)

func newAuditVerifyCmd() *cobra.Command {
	var (
		src, vkeyFile, tokenFile, out, genesisFile, chaincode, channelPin string
	)
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Re-verify a whole ledger: batch signatures, rulebook replay from genesis, tree and every checkpoint",
		Long: `Reads every batch of a ledger directory (read-only; stop the service first) or
of a ledger service URL (with an auditor or regulator role token), and checks
that each record decodes strictly and hashes to the leaf the tree holds, each
batch's root and signature verify under its writer's key as registered at that
point, the rulebook replays from genesis without a refusal, and the rebuilt tree
matches every signed checkpoint. For a directory it then checks what the store
keeps beside the records against what the records make it: the ids and query
indexes, tree nodes, batch headers, meta keys and the kept rulebook state
(replayed from the records), bbolt's page structure and both meta pages, so
a query never serves what verify did not vouch for. Exits 0 when the ledger is whole; otherwise
non-zero, naming the first bad batch, record or checkpoint and what is wrong.

The checkpoint key is taken from --vkey; for a directory it defaults to the
ledger.vkey file in it (pin the key you were given instead when auditing
someone else's ledger). --genesis pins the space's genesis the same way.

With --ledger fabric[:PROFILE] the channel's blocks are read once, as
'tdsc fabric verify' reads them: the hash chain, data hashes, the orderers'
block signatures, the validation flags against the peers' commit hash
(every organisation's peer asked for the last one) and endorsements
(--channel-genesis pins the channel's genesis block they start from), then the same checks over the batches the
space's chaincode committed, each checked as its block is read and not kept (memory holds the
rulebook's state, not the ledger); the tree heads are computed from the
blocks, so --vkey does not apply.

The rulebook's state is built in memory. Unless GOGC is set, the collector
runs at 400 % heap growth (fewer collections, more memory held as garbage),
and unless GOMEMLIMIT is set or AUTOMEMLIMIT=off, the heap is held softly
under 90 % of the container's memory limit or, with none, half of the
machine's memory (AUTOMEMLIMIT=R scales those by R).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var vkey string
			if vkeyFile != "" {
				b, err := os.ReadFile(vkeyFile)
				if err != nil {
					return err
				}
				vkey = strings.TrimSpace(string(b))
			}
			var pin func(ledger.Genesis) error
			if genesisFile != "" {
				want, err := authority.ReadGenesis(genesisFile)
				if err != nil {
					return err
				}
				pin = func(got ledger.Genesis) error {
					wj, _ := json.Marshal(want)
					gj, _ := json.Marshal(got)
					if !bytes.Equal(wj, gj) {
						return fmt.Errorf("%w: the ledger's genesis (space %q, authority %q) is not the one in %s", ledger.ErrGenesisMismatch, got.Space, got.Authority.ID, genesisFile)
					}
					return nil
				}
			}
			// Verification builds the rulebook's state in memory: trade
			// memory for fewer collections, within a limit.
			if _, err := gctune.ForHeavyHeap(); err != nil {
				return err
			}
			start := time.Now()
			var rep verify.Report
			if rest, ok := strings.CutPrefix(src, "fabric"); ok && (rest == "" || rest[0] == ':') {
				// The channel's blocks: hash chain, data hashes, block
				// signatures and endorsements,
				// then the same checks over the valid transactions' writes, in
				// one reading; the tree heads are the blocks' own.
				if vkey != "" {
					return fmt.Errorf("--vkey: not used with --ledger fabric: the tree heads are computed from the blocks, not taken from signed checkpoints")
				}
				profile := strings.TrimPrefix(rest, ":")
				if profile == "" {
					profile = defaultFabricProfile
				}
				p, ch, chaincode, err := openFabricChannel(profile, chaincode, 0)
				if err != nil {
					return err
				}
				defer ch.Close()
				blocks, err := channelSource(ch, channelPin)
				if err != nil {
					return err
				}
				cr, err := fabric.VerifyChain(ctx, blocks, chaincode, pin)
				if err != nil {
					return err
				}
				if _, _, err := peersAgree(ctx, ch, p, cr); err != nil {
					return err
				}
				if _, _, err := orderersAgree(ctx, ch, cr); err != nil {
					return err
				}
				rep = cr.Report
			} else {
				if channelPin != "" {
					return fmt.Errorf("--channel-genesis: only with --ledger fabric (a channel's genesis block)")
				}
				var err error
				if rep, err = verifySource(ctx, src, tokenFile, vkey, pin); err != nil {
					return err
				}
			}
			if out == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(struct {
					verify.Report
					Seconds float64 `json:"seconds"`
				}{rep, time.Since(start).Seconds()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ledger whole: %d records in %d batches, %d checkpoints verified, root %s (%.2fs)\n",
				rep.Records, rep.Batches, rep.Checkpoints, rep.Root, time.Since(start).Seconds())
			return nil
		},
	}
	cmd.Flags().StringVar(&src, "ledger", "", "ledger directory, service URL (http://host:port), or fabric[:PROFILE] (the channel's blocks)")
	cmd.Flags().StringVar(&chaincode, "chaincode", "", "with --ledger fabric: the space's chaincode (default: the profile's)")
	cmd.Flags().StringVar(&vkeyFile, "vkey", "", "file holding the checkpoint verifier key (note format)")
	cmd.Flags().StringVar(&tokenFile, "token", "", "file holding an auditor or regulator role token, for a URL")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output: text or json")
	cmd.Flags().StringVar(&genesisFile, "genesis", "", "the space's genesis file to pin (default: trust the ledger's own)")
	channelGenesisFlag(cmd, &channelPin)
	_ = cmd.MarkFlagRequired("ledger")
	return cmd
}

// verifySource verifies a ledger directory or service URL (see audit
// verify): its batches against its signed checkpoints and, for a directory,
// what the store keeps beside the records.
func verifySource(ctx context.Context, src, tokenFile, vkey string, pin func(ledger.Genesis) error) (verify.Report, error) {
	var source verify.Source
	var raw *embedded.Raw // a directory
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		var opts []client.Option
		if tokenFile != "" {
			tok, err := os.ReadFile(tokenFile)
			if err != nil {
				return verify.Report{}, err
			}
			opts = append(opts, client.WithToken(strings.TrimSpace(string(tok))))
		}
		c, err := newLedgerClient(src, nil, opts...)
		if err != nil {
			return verify.Report{}, err
		}
		if vkey == "" {
			return verify.Report{}, fmt.Errorf("--vkey is required for a ledger URL: pin the checkpoint key you were given")
		}
		source = c
	} else {
		var err error
		if raw, err = embedded.OpenRaw(src); err != nil {
			return verify.Report{}, err
		}
		defer raw.Close()
		if vkey == "" {
			vkey = raw.VerifierKey()
		}
		source = raw
	}
	if pin != nil {
		g, err := source.Genesis(ctx)
		if err != nil {
			return verify.Report{}, err
		}
		if err := pin(g); err != nil {
			return verify.Report{}, err
		}
	}
	if raw != nil {
		// A directory's query index and kept rulebook state are checked
		// against the proven records too: a query serves what they say.
		return raw.Verify(ctx, vkey)
	}
	return verify.Ledger(ctx, source, vkey)
}
