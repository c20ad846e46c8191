package ledgerhttp

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tdsc/tdsc/internal/atomicfile"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/fabric"
	"github.com/tdsc/tdsc/ledger/service"
	"github.com/tdsc/tdsc/ledger/verify"
)

// FabricOptions say which space's chaincode to serve and how.
type FabricOptions struct {
	Options
	Profile     string          // profile.json path (scripts/fabric.sh up writes it)
	Chaincode   string          // default: the profile's
	Deploy      bool            // define the chaincode on the channel first (a fresh world state)
	Genesis     *ledger.Genesis // initialise the chaincode with it; nil: it must hold one
	NoteKeyFile string          // default: fabric-<chaincode>.key beside the profile
	Org         int             // index of the profile's organisation to act as
	IndexFile   string          // keep the index of the channel's blocks in this file (fabric.Config.IndexFile); "": in memory
}

// The service's probes find the Fabric backend's: /healthz, /readyz and
// /readyz/writes answer what its follower and endorsers are doing.
var (
	_ service.HealthChecker          = (*fabric.Ledger)(nil)
	_ service.ReadinessChecker       = (*fabric.Ledger)(nil)
	_ service.WritesReadinessChecker = (*fabric.Ledger)(nil)
)

// Fabric opens the Fabric backend for a space and returns the handler over it
// and the open ledger (close it when done). The dashboard's verification
// reads the channel's blocks (fabric.VerifyChain).
func Fabric(ctx context.Context, o FabricOptions) (http.Handler, *fabric.Ledger, error) {
	p, err := fabric.LoadProfile(o.Profile)
	if err != nil {
		return nil, nil, fmt.Errorf("fabric profile %s: %w (start a network with scripts/fabric.sh up)", o.Profile, err)
	}
	if o.Chaincode == "" {
		o.Chaincode = p.Chaincode
	}
	if o.Deploy {
		if err := fabric.Deploy(ctx, p, o.Chaincode); err != nil {
			return nil, nil, err
		}
	}
	if o.NoteKeyFile == "" {
		o.NoteKeyFile = filepath.Join(filepath.Dir(o.Profile), "fabric-"+o.Chaincode+".key")
	}
	skey, err := noteKey(ctx, o.NoteKeyFile, o.Genesis, p, o.Chaincode)
	if err != nil {
		return nil, nil, err
	}
	l, err := fabric.Open(ctx, fabric.Config{Profile: p, Org: o.Org, Chaincode: o.Chaincode, NoteKey: skey, IndexFile: o.IndexFile, Log: o.Log})
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (http.Handler, *fabric.Ledger, error) {
		l.Close(context.Background())
		return nil, nil, err
	}
	if o.Genesis != nil {
		if err := l.Init(ctx, *o.Genesis); err != nil {
			return fail(err)
		}
	} else if _, err := (fabric.StateSource{L: l}).Genesis(ctx); err != nil {
		return fail(fmt.Errorf("chaincode %s: %w (initialise it with --genesis FILE)", o.Chaincode, err))
	} else if err := l.CheckEndorsers(ctx); err != nil { // Init checks them too
		return fail(fmt.Errorf("--profile %s: %w", o.Profile, err))
	}
	if o.Metrics == nil {
		o.Metrics = prometheus.NewRegistry()
	}
	o.Metrics.MustRegister(fabricMetrics(l.Stats)...)
	o.Metrics.MustRegister(ordererMetrics{l.Orderers})
	h, err := Handler(l, func(ctx context.Context) (verify.Report, error) { return VerifyFabric(ctx, l) }, o.Options)
	if err != nil {
		return fail(err)
	}
	return h, l, nil
}

// VerifyFabric audits a space's ledger from the channel's blocks in one
// reading (fabric.VerifyChain): the block hash chain, each block's data
// hash, orderer signatures, validation flags against the peer's commit
// hash and endorsements, then the same checks as for the embedded ledger
// over the valid transactions' writes; last, every organisation's peer is
// held to the last block's commit hash, and every orderer's block of that
// number to its header hash (one holding another fails it).
func VerifyFabric(ctx context.Context, l *fabric.Ledger) (verify.Report, error) {
	rep, err := fabric.VerifyChain(ctx, l, l.Chaincode(), nil)
	if err != nil {
		return rep.Report, err
	}
	if _, err = l.ComparePeers(ctx, rep.ChainCounts); err != nil {
		return rep.Report, err
	}
	_, err = l.CompareOrderers(ctx, rep)
	return rep.Report, err
}

// noteKey loads the checkpoint signer key, or creates it (0600) with its
// verifier key beside it. The note's name is the space's origin, so a new key
// needs the genesis, or the chaincode's.
func noteKey(ctx context.Context, path string, g *ledger.Genesis, p *fabric.Profile, chaincode string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return string(bytes.TrimSpace(b)), nil
	} else if !os.IsNotExist(err) {
		return "", err
	}
	if g == nil {
		l, err := fabric.Open(ctx, fabric.Config{Profile: p, Chaincode: chaincode})
		if err != nil {
			return "", err
		}
		defer l.Close(ctx)
		gg, err := (fabric.StateSource{L: l}).Genesis(ctx)
		if err != nil {
			return "", err
		}
		g = &gg
	}
	if err := g.CheckSuite(); err != nil {
		return "", err
	}
	skey, vkey, err := g.CryptoSuite().GenerateNoteKey(fabric.Origin(g.Space))
	if err != nil {
		return "", err
	}
	if err := atomicfile.Write(path, []byte(skey+"\n"), 0o600); err != nil {
		return "", err
	}
	if err := atomicfile.Write(path+".vkey", []byte(vkey+"\n"), 0o644); err != nil {
		return "", err
	}
	return skey, nil
}

// fabricMetrics are the Fabric backend's counts as metrics, read from stats
// at each scrape: what its committer did (transactions, read conflicts,
// resubmissions, refused batches checked again, transactions sent to the
// orderers again, endorsers unable to endorse) and how far its follower
// has read the channel, and how often it failed to.
func fabricMetrics(stats func() fabric.Stats) []prometheus.Collector {
	counter := func(name, help string, v func(fabric.Stats) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return v(stats()) })
	}
	return []prometheus.Collector{
		counter("tdsc_ledger_fabric_transactions_total", "Append transactions the peers marked valid.", func(s fabric.Stats) float64 { return float64(s.Transactions) }),
		counter("tdsc_ledger_fabric_conflicts_total", "Append transactions invalid for a read conflict with another (MVCC or phantom), or answered differently by endorsers a block apart.",
			func(s fabric.Stats) float64 { return float64(s.Conflicts) }),
		counter("tdsc_ledger_fabric_retries_total", "Resubmissions after a conflict or an unavailable network.", func(s fabric.Stats) float64 { return float64(s.Retries) }),
		counter("tdsc_ledger_fabric_rechecks_total", "Refused batches checked again.", func(s fabric.Stats) float64 { return float64(s.Rechecks) }),
		counter("tdsc_ledger_fabric_resent_total", "Transactions submitted to the orderers again, unchanged, when their commit status had not come tdsc_ledger_fabric_resend_after_seconds after the orderers took them (a Raft leader gone with them).",
			func(s fabric.Stats) float64 { return float64(s.Resent) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tdsc_ledger_fabric_resend_after_seconds", Help: "How long a transaction the orderers took waits for its commit status now before it is submitted again: on a Raft channel four times the 90th percentile of the last 64 waits, at least 1 s past the batch timeout, at most 5 s; else 5 s."},
			func() float64 { return stats().ResendAfter.Seconds() }),
		counter("tdsc_ledger_fabric_blocks_read_total", "Blocks the follower read from the peer since the service started.", func(s fabric.Stats) float64 { return float64(s.BlocksRead) }),
		counter("tdsc_ledger_fabric_follow_failures_total", "The follower's failures to open the block stream or to add the blocks delivered (retried every 200 ms; /healthz says which).",
			func(s fabric.Stats) float64 { return float64(s.FollowFailures) }),
		counter("tdsc_ledger_fabric_unable_marks_total", "Times an endorser's peer was marked unable to endorse (a proposal failed on the peer itself: its chaincode service down, the peer unreachable); a policy that needs only some organisations asks others while it is.",
			func(s fabric.Stats) float64 { return float64(s.UnableMarks) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tdsc_ledger_fabric_endorsers_unable", Help: "Endorsers whose peer is marked unable to endorse now (a probe asks each every 250 ms)."},
			func() float64 { return float64(len(stats().Unable)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tdsc_ledger_fabric_endorsers_asked", Help: "Organisations each transaction asks to endorse it: the profile's endorsersNeeded, or more while the chaincode's endorsement policy needs more (0: the gateway chooses)."},
			func() float64 { return float64(stats().EndorsersAsked) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tdsc_ledger_fabric_endorsers_able", Help: "The profile's endorsers that can endorse now (their peer neither away nor marked unable); below tdsc_ledger_fabric_endorsers_asked, writes wait (/readyz/writes says why)."},
			func() float64 { return float64(stats().EndorsersAble) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tdsc_ledger_fabric_next_block", Help: "The next block the follower reads: the index holds the channel's blocks before it."},
			func() float64 { s := stats(); return float64(s.FromBlock + uint64(s.BlocksRead)) }),
	}
}

// ordererScrape bounds what a scrape waits for the orderers' answers and
// views (each orderer has answerWithin, 2 s, and its operations endpoint
// 2 s more).
const ordererScrape = 5 * time.Second

// ordererMetrics are the channel's orderers as a scrape finds them
// (fabric.Ledger.Orderers: asked as /readyz/writes asks them, the answer
// shared by the probes and scrapes of a second; of BFT with the profile's
// ordererOperations, their SmartBFT views read as `tdsc fabric orderers`
// reads them, shared by the scrapes of a second):
//
//   - tdsc_ledger_fabric_orderers_answering: consenters that answered
//     with the newest block;
//   - tdsc_ledger_fabric_orderers_needed: how many must, for the channel to
//     order (one of Raft, the quorum of BFT);
//   - tdsc_ledger_fabric_bft_consenters{standing}: of BFT, the consenters
//     level, trailing, alone (to restart if it stays so), away (not
//     answering) and unread (answered, their view not read), once a view
//     was read.
//
// answering at needed means one orderer more away stops the writes; level
// at needed, of BFT, that one more away leaves a quorum that needs one not
// level, and the writes wait for view changes. Where the orderers cannot be
// asked at all (the channel's configuration unread), the scrape has none
// of these.
type ordererMetrics struct {
	orderers func(context.Context) (fabric.OrdererAnswers, error)
}

var (
	answeringDesc = prometheus.NewDesc("tdsc_ledger_fabric_orderers_answering",
		"Consenters of the channel (orderers whose answer counts) that answered with its newest block at this scrape, each within 2 s; at tdsc_ledger_fabric_orderers_needed, one more away stops the writes.", nil, nil)
	neededDesc = prometheus.NewDesc("tdsc_ledger_fabric_orderers_needed",
		"Consenters that must answer for the channel to order: one of Raft (an orderer that knows no leader does not), the quorum of BFT.", nil, nil)
	bftDesc = prometheus.NewDesc("tdsc_ledger_fabric_bft_consenters",
		"Of a BFT channel whose orderers' operations endpoints the profile names: its consenters by their SmartBFT views at this scrape — level (in the view and under the leader most are in, at most one decision behind), trailing (to level), alone (asking for a view no level one asks for: if it stays so, restart it), away (not answering), unread (answered, view not read).", []string{"standing"}, nil)
)

func (m ordererMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- answeringDesc
	ch <- neededDesc
	ch <- bftDesc
}

func (m ordererMetrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ordererScrape)
	defer cancel()
	a, _ := m.orderers(ctx) // its error is the answers', counted below
	if len(a.Answers) == 0 {
		return
	}
	ch <- prometheus.MustNewConstMetric(answeringDesc, prometheus.GaugeValue, float64(a.Answering()))
	ch <- prometheus.MustNewConstMetric(neededDesc, prometheus.GaugeValue, float64(max(a.Need, 1)))
	st := a.BFTStanding()
	if a.Consensus != "BFT" || st.Level+st.Trailing+st.Alone == 0 {
		return
	}
	for _, s := range []struct {
		standing string
		n        int
	}{{"level", st.Level}, {"trailing", st.Trailing}, {"alone", st.Alone}, {"away", st.Away}, {"unread", st.Unread}} {
		ch <- prometheus.MustNewConstMetric(bftDesc, prometheus.GaugeValue, float64(s.n), s.standing)
	}
}
