package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/internal/gctune"
	"github.com/tdsc/tdsc/ledger/fabric"
)

// defaultFabricProfile is where scripts/fabric.sh up writes the local
// network's profile.
var defaultFabricProfile = filepath.Join(".cache", "fabric", "net", "profile.json")

// openFabricChannel loads the network profile and opens the channel through
// the peer of the profile's organisation org, for reading its blocks;
// chaincode "" is the profile's. Close the channel.
func openFabricChannel(profile, chaincode string, org int) (*fabric.Profile, *fabric.Channel, string, error) {
	p, err := fabric.LoadProfile(profile)
	if err != nil {
		return nil, nil, "", err
	}
	if chaincode == "" {
		chaincode = p.Chaincode
	}
	if org < 0 || org >= len(p.Orgs) {
		return nil, nil, "", fmt.Errorf("--org %d: the profile has %d organisations (0 to %d)", org, len(p.Orgs), len(p.Orgs)-1)
	}
	ch, err := fabric.OpenChannel(p, org)
	if err != nil {
		return nil, nil, "", err
	}
	return p, ch, chaincode, nil
}

// channelSource is ch's blocks, with the channel's genesis block pinned
// if pin (--channel-genesis: a header hash or a block file) is set.
func channelSource(ch *fabric.Channel, pin string) (fabric.BlockSource, error) {
	if pin == "" {
		return ch, nil
	}
	want, err := fabric.ChannelGenesisPin(pin)
	if err != nil {
		return nil, err
	}
	return fabric.PinChannelGenesis(ch, want), nil
}

// peersAgree asks every organisation's peer of p for the commit hash of
// the audit's last block and holds it to the audit's: an error (a chain
// problem) if one holds another; else what they said, and a summary for
// the report.
func peersAgree(ctx context.Context, ch *fabric.Channel, p *fabric.Profile, res fabric.ChainReport) ([]fabric.PeerCommit, string, error) {
	commits, err := fabric.ComparePeers(ctx, ch, p, res.ChainCounts)
	if err != nil {
		return nil, "", err
	}
	agree, away, highest := tally(commits, func(c fabric.PeerCommit) (string, bool, string, uint64) { return c.MSPID, c.Agrees, c.Error, c.Height })
	line := fmt.Sprintf("peers holding its commit hash at block %d: %s", res.Blocks-1, strings.Join(agree, ", "))
	if highest > res.Blocks {
		line += fmt.Sprintf(" (a peer holds %d blocks: %d more than read)", highest, highest-res.Blocks)
	}
	if len(away) > 0 {
		line += " (no answer: " + strings.Join(away, "; ") + ")"
	}
	return commits, line, nil
}

// orderersAgree asks every orderer of the audited configuration for its
// newest block and its block at the audit's last number
// (fabric.CompareOrderers): their answers, and the report's line.
func orderersAgree(ctx context.Context, ch *fabric.Channel, res fabric.ChainReport) ([]fabric.OrdererHead, string, error) {
	heads, err := fabric.CompareOrderers(ctx, ch, res)
	if err != nil {
		return nil, "", err
	}
	agree, away, highest := tally(heads, func(h fabric.OrdererHead) (string, bool, string, uint64) {
		return h.Address, h.Agrees, h.Error, h.Height
	})
	line := fmt.Sprintf("orderers that ordered block %d as read: %s", res.Blocks-1, strings.Join(agree, ", "))
	if len(agree) == 0 {
		line = fmt.Sprintf("no orderer said it ordered block %d as read", res.Blocks-1)
	}
	if highest > res.Blocks {
		line += fmt.Sprintf(" (an orderer's newest block is %d: %d more than read, written since or held back", highest-1, highest-res.Blocks)
		if i := slices.IndexFunc(heads, func(h fabric.OrdererHead) bool { return h.Agrees && h.Height == highest }); i >= 0 {
			line += fmt.Sprintf("; its headers chained to the audited head and signed as configured, %d configuration update(s) among them; their transactions not read", heads[i].TailConfigUpdates)
		}
		line += ")"
	}
	if len(away) > 0 {
		line += " (not compared: " + strings.Join(away, "; ") + ")"
	}
	return heads, line, nil
}

// tally sorts the nodes' answers: the names of those that agree with the
// audit, "name: why" of the others, and the highest height any gave (each
// answer as f reads it: name, agrees, why not, height).
func tally[T any](answers []T, f func(T) (string, bool, string, uint64)) (agree, away []string, highest uint64) {
	for _, a := range answers {
		name, agrees, why, h := f(a)
		if agrees {
			agree = append(agree, name)
		} else {
			away = append(away, name+": "+why)
		}
		highest = max(highest, h)
	}
	return agree, away, highest
}

// channelGenesisFlag adds --channel-genesis.
func channelGenesisFlag(cmd *cobra.Command, pin *string) {
	cmd.Flags().StringVar(pin, "channel-genesis", "", "the channel's genesis block to pin: its header hash (64 hex digits, as the report gives it) or its block file (default: trust the peer's block 0)")
}

func newFabricCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fabric",
		Short: "Work with the ledger on a Hyperledger Fabric network: a local one (up, down, status), the ledger service over it, the audit from its blocks",
	}
	cmd.AddCommand(newFabricVerifyCmd(), newFabricServeCmd(), newFabricIndexCmd(), newFabricEndorsersCmd(), newFabricOrderersCmd())
	cmd.AddCommand(newFabricNetCmds()...)
	return cmd
}

func newFabricVerifyCmd() *cobra.Command {
	var profile, chaincode, out, channelPin string
	var org int
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Audit a space's ledger from the channel's blocks",
		Long: `Reads every block of the channel through qscc, checks the block hash chain,
each block's data hash, every block's orderer signatures under the channel's
BlockValidation policy (the genesis block is the anchor: --channel-genesis
pins it), every block's validation flags against the peer's commit hash
(recomputed from the flags and the valid transactions' writes) and every
valid transaction's endorsements, takes
the batches the valid transactions of the space's chaincode committed, in
block order (as the ledger service does: same root, same proofs), and
re-verifies the ledger from them with the same checks as 'tdsc audit verify':
every batch signature under the writer's key as registered at that point,
the rulebook replayed from genesis, and the tree rebuilt from the records
against the tree head after every transaction. One reading: each batch is
checked as its block is read and not kept, so memory holds the rulebook's
state, not the ledger. The collector runs as for 'tdsc audit verify' (see
its help).
Then every organisation's peer of the profile is asked for the last block's
commit hash: one that holds another (the peers disagree on which
transactions are valid) fails the audit; one away is named, not counted.
And every orderer of the audited configuration is asked for its block at
that number and its newest block: one that ordered another block there
fails the audit; a newest block past the one read (signed under the audited
configuration) is named — blocks written since, or held back by the peer.
Exits non-zero naming the block, batch or record where it breaks.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if _, err := gctune.ForHeavyHeap(); err != nil {
				return err
			}
			p, ch, chaincode, err := openFabricChannel(profile, chaincode, org)
			if err != nil {
				return err
			}
			defer ch.Close()
			src, err := channelSource(ch, channelPin)
			if err != nil {
				return err
			}
			res, err := fabric.VerifyChain(ctx, src, chaincode, nil)
			if err != nil {
				return err
			}
			peers, agreed, err := peersAgree(ctx, ch, p, res)
			if err != nil {
				return err
			}
			heads, ordered, err := orderersAgree(ctx, ch, res)
			if err != nil {
				return err
			}
			if out == "json" {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(struct {
					fabric.ChainReport
					Peers    []fabric.PeerCommit  `json:"peers"`
					Orderers []fabric.OrdererHead `json:"orderers"`
				}{res, peers, heads})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: %d blocks chained from genesis block %s, signed under %s (orderer identities: %d; ordering: %s), configuration updates followed: %d, validation flags giving the peer's commit hash %s; %s; %s; chaincode %s: endorsement policy %s (definitions: %d), %d valid transactions (%d invalid, ignored), %d batches, %d records, %d tree heads (one per transaction); root %s\n",
				res.Blocks, res.ChannelGenesis, res.BlockValidation, res.BlockSigners, res.Ordering, res.ConfigUpdates, res.CommitHash, agreed, ordered, chaincode, res.Policy, res.Definitions, res.Txs, res.InvalidTxs, res.Batches, res.Records, res.Checkpoints, res.Root)
			return nil
		},
	}
	channelGenesisFlag(cmd, &channelPin)
	fabricChannelFlags(cmd, &profile, &chaincode, &org, "which of the profile's organisations (0-based) reads the blocks: its peer, as its user (an auditor reads from the peer it trusts)")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output: text or json")
	return cmd
}

func newFabricIndexCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "index",
		Short: "Work with a ledger service's index file (tdsc fabric serve --index)",
	}
	cmd.AddCommand(newFabricIndexCheckCmd())
	return cmd
}

func newFabricIndexCheckCmd() *cobra.Command {
	var profile, chaincode, file, out string
	var org int
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check a stopped ledger service's index file against the channel's blocks",
		Long: `Reads the blocks the index file holds (with the checks of 'tdsc fabric
verify': hash chain, data hashes, block signatures, endorsements), builds the index they make
into a temporary file, and compares the two entry by entry: records,
batches, tree nodes, tree heads, events, lookups, postings, and the block
the file has read up to. Stop the service first (the file is opened
read-only; a running service holds it). Exits non-zero listing the first
differences; to repair, remove the file and start the service again: it
reads the channel into a new one.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, ch, chaincode, err := openFabricChannel(profile, chaincode, org)
			if err != nil {
				return err
			}
			defer ch.Close()
			if file == "" {
				file = defaultIndexFile(profile, chaincode, org)
			}
			rep, err := fabric.CheckIndexFile(ctx, ch, file, p.Channel, chaincode)
			if out == "json" && (err == nil || errors.Is(err, fabric.ErrIndexDiffers)) {
				if jerr := json.NewEncoder(cmd.OutOrStdout()).Encode(rep); jerr != nil {
					return jerr
				}
				return err
			}
			if err != nil {
				for _, d := range rep.Differences {
					fmt.Fprintln(cmd.ErrOrStderr(), "differs:", d)
				}
				if rep.More > 0 {
					fmt.Fprintf(cmd.ErrOrStderr(), "and %d more\n", rep.More)
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "index file %s is whole: %d blocks, %d records in %d batches, as the blocks make them\n",
				file, rep.Blocks, rep.Records, rep.Batches)
			return nil
		},
	}
	fabricChannelFlags(cmd, &profile, &chaincode, &org, "the organisation (0-based) whose peer serves the blocks, and whose service's file is the default")
	cmd.Flags().StringVar(&file, "index", "", "the index file (default: the one tdsc fabric serve keeps for --org beside the profile)")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output: text or json")
	return cmd
}

func newFabricEndorsersCmd() *cobra.Command {
	var profile, chaincode, out string
	var org int
	cmd := &cobra.Command{
		Use:   "endorsers",
		Short: "Check the profile's endorsers against the chaincode's endorsement policy on the channel",
		Long: `Reads the chaincode's endorsement policy from its committed definition
(and, for a policy that refers to the channel's configuration, the newest
config block) and says how many of the profile's endorsers a transaction
asks under it: the profile's endorsersNeeded (0: every endorser), or more
if sets of that many do not all satisfy the policy — what the ledger
service does (tdsc fabric serve, at start and after every new definition
of the chaincode) —, and how few would do. Exits non-zero, naming the
profile's field, if not even every endorser listed satisfies the policy.
A policy naming admins, identities or OUs cannot be judged: it says so.

Then asks each endorser's peer, alone, to run the chaincode now (as the
ledger service's /readyz/writes does) and says which cannot and why; exits
non-zero if fewer can than a transaction asks (writes would wait).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ch, chaincode, err := openFabricChannel(profile, chaincode, org)
			if err != nil {
				return err
			}
			defer ch.Close()
			rep, err := fabric.CheckProfile(cmd.Context(), ch, p, chaincode)
			if rep == nil {
				return err
			}
			// What the endorsers' peers answer now: only for a profile
			// the policy can be met by.
			var unable map[string]string
			var waits error
			if err == nil && len(rep.Endorsers) > 0 {
				unable = fabric.AskEndorsers(cmd.Context(), ch, p, chaincode)
				waits = fabric.WritesWait(rep.Endorsers, rep.Asked, unable)
			}
			if out == "json" {
				if jerr := json.NewEncoder(cmd.OutOrStdout()).Encode(struct {
					*fabric.EndorsersReport
					// Unable: the endorsers whose peer could not run the
					// chaincode when asked, with why.
					Unable map[string]string `json:"unable,omitempty"`
				}{rep, unable}); jerr != nil {
					return jerr
				}
				return cmp.Or(err, waits)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if len(rep.Endorsers) == 0 {
				fmt.Fprintf(w, "chaincode %s: endorsement policy %s; the profile lists no endorsers: the gateway chooses them\n", chaincode, rep.Policy)
				return nil
			}
			fmt.Fprintf(w, "chaincode %s: endorsement policy %s\n", chaincode, rep.Policy)
			fmt.Fprintf(w, "endorsers listed: %s; the profile asks %d a transaction\n", strings.Join(rep.Endorsers, ", "), rep.EndorsersNeeded)
			switch {
			case rep.NotJudged != "":
				fmt.Fprintf(w, "not judged: %s; a transaction asks %d\n", rep.NotJudged, rep.Asked)
			case rep.Asked > rep.EndorsersNeeded:
				fmt.Fprintf(w, "a transaction asks %d: the policy needs more than the profile's endorsersNeeded %d (the service raises it and logs a warning)\n", rep.Asked, rep.EndorsersNeeded)
			case rep.Enough > 0 && rep.Enough < rep.Asked:
				fmt.Fprintf(w, "a transaction asks %d; %d would do (endorsersNeeded %d)\n", rep.Asked, rep.Enough, rep.Enough)
			default:
				fmt.Fprintf(w, "a transaction asks %d, as the policy needs\n", rep.Asked)
			}
			switch {
			case len(unable) == 0:
				fmt.Fprintf(w, "every endorser's peer runs the chaincode now\n")
			case waits != nil:
				return waits // naming each that cannot, and why
			}
			for _, msp := range rep.Endorsers {
				if why, ok := unable[msp]; ok {
					fmt.Fprintf(w, "%s cannot endorse now (enough others can): %s\n", msp, why)
				}
			}
			return nil
		},
	}
	fabricChannelFlags(cmd, &profile, &chaincode, &org, "the organisation (0-based) whose peer is asked")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output: text or json")
	return cmd
}

func newFabricOrderersCmd() *cobra.Command {
	var profile, out string
	var org int
	cmd := &cobra.Command{
		Use:   "orderers",
		Short: "Ask the channel's orderers whether they answer",
		Long: `Reads the orderers from the channel's newest configuration (each orderer
organisation's endpoints and TLS roots: how the peers reach them, not the
profile's orderer) and asks each, at once, for the newest block, as the
ledger service's /readyz/writes does; each has 2 s to answer. Prints each
with the block height it gave, or why not; exits non-zero if none answers
(writes would wait) — of a BFT cluster, if fewer than its quorum do (a
BFT orderer serves blocks with or without one). An orderer of a Raft
cluster that knows no leader answers SERVICE_UNAVAILABLE; whether the
orderers that answer can reach each other it cannot tell. An orderer the
configuration names at an address no consenter has (one joining, named
an endpoint before a consenter) is marked "not a consenter", and its
answer does not count.

Of a BFT cluster whose orderers' operations endpoints the profile names
(ordererOperations, written by scripts/fabric.sh), it reads each one's
SmartBFT view from its metrics — view, leader, the next decision's
sequence, the view changer — and says which are level: in the view and
under the leader most are in, settled, at most one decision behind. One
that has just become a consenter, or started again, may trail until
SmartBFT synchronises it; while it does, stopping another orderer can
leave a quorum that needs it, and the writes wait for view changes. So it
says whether one orderer may stop with the quorum still level. Of a BFT
cluster whose endpoints the profile does not name, it says so, and how.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, ch, _, err := openFabricChannel(profile, "", org)
			if err != nil {
				return err
			}
			defer ch.Close()
			answers, err := fabric.AskOrderers(cmd.Context(), ch)
			if err != nil {
				return err
			}
			fabric.ReadBFTViews(cmd.Context(), nil, p.Channel, &answers, p.OrdererOperations)
			none := answers.Err()
			if out == "json" {
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(answers); err != nil {
					return err
				}
				return none
			}
			if none != nil {
				return none // naming each orderer, and why
			}
			w := cmd.OutOrStdout()
			if answers.Need > 1 {
				fmt.Fprintf(w, "a %s cluster of %d: %d must answer for the channel to order\n", answers.Consensus, answers.Consenters(), answers.Need)
			}
			for _, a := range answers.Answers {
				var about []string
				if a.Org != "" {
					about = append(about, a.Org)
				}
				if !a.Counts() {
					about = append(about, "not a consenter: its answer does not count")
				}
				name := a.Address
				if len(about) > 0 {
					name += " (" + strings.Join(about, ", ") + ")"
				}
				if a.Error == "" {
					fmt.Fprintf(w, "%s answers: the channel holds %d blocks%s\n", name, a.Height, bftAbout(a))
				} else {
					fmt.Fprintf(w, "%s does not answer: %s\n", name, a.Error)
				}
			}
			if answers.Consensus == "BFT" && len(p.OrdererOperations) == 0 {
				fmt.Fprintf(w, "SmartBFT views not read: the profile names no orderer's operations endpoint (field ordererOperations, e.g. {%q: \"http://127.0.0.1:9443\"}); whether the consenters are level is not known\n", answers.Answers[0].Address)
			}
			if st := answers.BFTStanding(); answers.Consensus == "BFT" && (st.Level > 0 || st.Unread == 0) {
				switch {
				case st.Unread > 0:
					fmt.Fprintf(w, "level: %d consenters; not every consenter's view was read\n", st.Level)
				case st.MayStopOne(answers.Need):
					fmt.Fprintf(w, "level: %d of %d consenters; one may stop, leaving %d level (the quorum needs %d)\n", st.Level, answers.Consenters(), st.Level-1, answers.Need)
				default:
					fmt.Fprintf(w, "level: %d of %d consenters; none should stop: it would leave %d level, and the quorum needs %d%s\n", st.Level, answers.Consenters(), st.Level-1, answers.Need, bftWait(st))
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&profile, "profile", defaultFabricProfile, "network profile (written by scripts/fabric.sh up)")
	cmd.Flags().IntVar(&org, "org", 0, "the organisation (0-based) whose peer gives the channel's configuration, and whose user asks")
	cmd.Flags().StringVarP(&out, "output", "o", "text", "output: text or json")
	return cmd
}

// bftAbout says what an orderer's SmartBFT view is ("" if not read).
func bftAbout(a fabric.OrdererAnswer) string {
	switch v := a.BFT; {
	case a.BFTError != "":
		return "; its SmartBFT view not read: " + a.BFTError
	case v == nil:
		return ""
	case v.Level:
		return fmt.Sprintf("; SmartBFT %v, level", v)
	case v.Alone:
		return fmt.Sprintf("; SmartBFT %v, trailing alone (its view changer asks for view %d, no level orderer does: after a freeze it can stay so; restart it)", v, v.NextView)
	default:
		return fmt.Sprintf("; SmartBFT %v, trailing", v)
	}
}

// bftWait says what a BFT cluster with too few level consenters waits
// for: the ones alone to be restarted, the trailing ones to level, the
// ones away to come back.
func bftWait(st fabric.BFTStanding) string {
	var why []string
	if st.Alone > 0 {
		why = append(why, fmt.Sprintf("%d alone, to restart", st.Alone))
	}
	if st.Trailing > 0 {
		why = append(why, fmt.Sprintf("%d trailing, to level", st.Trailing))
	}
	if st.Away > 0 {
		why = append(why, fmt.Sprintf("%d not answering, to come back", st.Away))
	}
	if len(why) == 0 {
		return ""
	}
	return " (wait for " + strings.Join(why, " and ") + ")"
}

// fabricChannelFlags adds the flags of openFabricChannel: --profile,
// --chaincode and --org (orgHelp says what the organisation does).
func fabricChannelFlags(cmd *cobra.Command, profile, chaincode *string, org *int, orgHelp string) {
	cmd.Flags().StringVar(profile, "profile", defaultFabricProfile, "network profile (written by scripts/fabric.sh up)")
	cmd.Flags().StringVar(chaincode, "chaincode", "", "the space's chaincode (default: the profile's)")
	cmd.Flags().IntVar(org, "org", 0, orgHelp)
}
