package fabric

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer"
	"github.com/hyperledger/fabric-protos-go-apiv2/orderer/etcdraft"
	"google.golang.org/protobuf/proto"

	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/ledgertest"
)

// TestConsenterLeavesAndReturns changes the ordering service's membership
// by configuration updates while four writers write, as an operator of a
// growing space does: one orderer of the cluster (not its leader) is
// removed from the consenters — of a Raft cluster from the consensus
// type's metadata; of a BFT cluster from the consenter mapping, with the
// blocks' BlockValidation made the quorum of the rest, as Fabric's config
// verifier wants — and its endpoint from its organisation's (the
// organisation with it, if it was its only orderer), signed by the
// orderer organisations' admins. The writes go on; the ledger asks the
// orderers the new configuration names (the follower read the update) and
// needs the new quorum; the audit reads across the update and the blocks
// after it are signed under it; the orderers left agree with the audited
// head, and their blocks past an audit made before the update chain to
// it. Then the same orderer comes back: its organisation first, if it
// went; it joins the channel again as a follower and catches up
// (scripts/fabric.sh join-orderer, orderer-channel); an update names it a
// consenter, and with another orderer stopped the writes need it (two of
// three Raft consenters, three of four BFT ones); the audit and every
// orderer's head agree. No writer's batch fails. It changes the channel's
// configuration, so it runs only with TDSC_FABRIC_RECONFIGURE=1 on a
// cluster (scripts/fabric-test.sh runs it last but for TestNewOrdererJoins).
func TestConsenterLeavesAndReturns(t *testing.T) {
	m, s, n := startMembership(t, "removes an orderer from the ordering cluster and adds it again by configuration updates",
		"a Raft cluster of three orderers or a BFT cluster of four",
		func(typ string, n int) bool { return typ == "etcdraft" && n == 3 || typ == "BFT" && n == 4 })
	p, l, ch := m.p, m.l, m.ch
	ctx := context.Background()

	// The last orderer that does not lead leaves (with
	// TDSC_FABRIC_REMOVE_LEADER=1, the leader), while four writers write.
	w := keepWriting(s, l, 4, "leaves")
	m.progress(w, "before")
	leader := clusterLeader(t, p)
	away := leader
	if os.Getenv("TDSC_FABRIC_REMOVE_LEADER") != "1" {
		away = lastNotLeading(n, leader)
	}
	addr := ordererAddress(t, p, away)
	// An audit before the update, while the writers write: the orderers'
	// blocks past it, compared after the update, hold it.
	rep0, err := VerifyChain(ctx, l, l.cfg.Chaincode, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg0 := lastConfigBlock(t, ctx, ch)
	var gone *removedConsenter
	cfg1 := update(t, p, ch, cfg0, func(og *common.ConfigGroup) { gone = leave(t, og, addr) })
	t.Logf("orderer %s (%s) removed from the consenters by configuration block %d (orderer %s leads)", away, addr, cfg1.Header.Number, leader)
	m.progress(w, "after the removal")
	m.finished(w, "the removal")
	tails, err := CompareOrderers(ctx, l.ch, rep0)
	if err != nil {
		t.Fatalf("the orderers against the audit before the update: %v", err)
	}
	for _, h := range tails {
		if h.Address != addr && (!h.Agrees || h.Tail == 0 || h.TailConfigUpdates != 1) {
			t.Fatalf("orderer %s against the audit of %d blocks before the update: %+v; want its blocks since chained to it, one configuration update among them", h.Address, rep0.Blocks, h)
		}
		t.Logf("orderer %s past the audit before the update: %d blocks, %d configuration update(s), agrees %v %s", h.Address, h.Tail, h.TailConfigUpdates, h.Agrees, h.Error)
	}
	answers := wholeCluster(t, ch, n-1, 0)
	if slices.ContainsFunc(answers.Answers, func(a OrdererAnswer) bool { return a.Address == addr }) {
		t.Fatalf("the configuration after the update still names %s: %+v", addr, answers)
	}
	want := ordering{typ: m.typ, consenters: n - 1}
	if answers.Need != want.quorum(n-1) {
		t.Fatalf("%s of %d: need %d answers, want %d", m.typ, n-1, answers.Need, want.quorum(n-1))
	}
	// The ledger's own probe asks the orderers the update names at once:
	// its follower read the configuration block.
	if err := l.WritesReady(ctx); err != nil {
		t.Fatalf("after the update: WritesReady %v", err)
	}
	if ends, o, err := l.orderers.endpoints(ctx, l.ch); err != nil || len(ends) != n-1 || o != want {
		t.Fatalf("the ledger's orderers after the update: %d, %v (%v); want %d, %v", len(ends), o, err, n-1, want)
	}
	heads := auditAcross(t, l, m.written, want, 1)
	if len(heads) != n-1 {
		t.Fatalf("the orderers' heads: %+v; want the %d left", heads, n-1)
	}

	// It returns, while four writers write, in Fabric's order for adding a
	// consenter: its organisation first, if it went (its orderer may not
	// read the channel without it); then the orderer leaves the channel
	// and joins it again as a follower from the newest configuration, and
	// catches up; then an update names it a consenter. (A removed BFT
	// orderer does not follow the channel on its own — Fabric 3.1's
	// SmartBFT chain stays where it was — and a removed Raft one only once
	// it suspects its eviction, 10 minutes by default. The other way round
	// — named a consenter before it runs as one — a BFT view change
	// meanwhile can elect it and cost another: 28 s without writes once.)
	w = keepWriting(s, l, 4, "returns")
	cfg2 := cfg1
	if gone.group != nil {
		cfg2 = update(t, p, ch, cfg1, func(og *common.ConfigGroup) { gone.returnOrg(t, og, addr) })
		t.Logf("orderer organisation %s added again by configuration block %d", gone.org, cfg2.Header.Number)
	}
	file := filepath.Join(t.TempDir(), "config.block")
	if err := os.WriteFile(file, mustMarshal(t, cfg2), 0o600); err != nil {
		t.Fatal(err)
	}
	script(t, p, "join-orderer", away, file)
	ordererCaughtUp(t, p, away, ch, "")
	cfg3 := update(t, p, ch, cfg2, func(og *common.ConfigGroup) {
		gone.returnOrg(t, og, addr)
		gone.returnConsenter(t, og)
	})
	t.Logf("orderer %s a consenter again by configuration block %d", away, cfg3.Header.Number)
	m.progress(w, "after the return")
	after := wholeCluster(t, ch, n, cfg3.Header.Number)
	t.Logf("all %d orderers answer, at heights %v", n, heightsOf(after))
	m.needed(w, away, n)
	m.finished(w, "the return")
	wholeCluster(t, ch, n, 0) // the orderer started again has caught up
	heads = auditAcross(t, l, m.written, ordering{typ: m.typ, consenters: n}, 2)
	if len(heads) != n || !slices.ContainsFunc(heads, func(h OrdererHead) bool { return h.Address == addr && h.Agrees }) {
		t.Fatalf("the orderers' heads after the return: %+v; want %d, %s agreeing", heads, n, addr)
	}
}

// startMembership starts a membership test that does what does: the
// network changed by configuration updates (TDSC_FABRIC_RECONFIGURE=1),
// its cluster one that fits (else the test skips, saying it needs need),
// a ledger ready to write; it returns them and how many orderers the
// cluster has.
func startMembership(t *testing.T, does, need string, fits func(typ string, n int) bool) (*membership, *ledgertest.Space, int) {
	t.Helper()
	p := changingNetwork(t, "TDSC_FABRIC_RECONFIGURE", does)
	if p.Dir == "" {
		t.Fatal("the profile names no network directory (field dir)")
	}
	ch := mustChannel(t, p, 0)
	before := wholeCluster(t, ch, 0, 0)
	n := len(before.Answers)
	if !fits(before.Consensus, n) {
		t.Skipf("needs %s; the channel has %s of %d", need, before.Consensus, n)
	}
	s, l := readyToWrite(t, p)
	return &membership{t: t, p: p, l: l, ch: ch, typ: before.Consensus}, s, n
}

// lastNotLeading is the last of orderers 1 to n that is not leader.
func lastNotLeading(n int, leader string) string {
	for k := n; k >= 1; k-- {
		if c := strconv.Itoa(k); c != leader {
			return c
		}
	}
	return ""
}

// membership is what a test of the ordering service's membership keeps:
// the network, the ledger that writes, its channel, the batches written.
type membership struct {
	t       *testing.T
	p       *Profile
	l       *Ledger
	ch      *Channel
	typ     string // the consensus type: etcdraft, BFT
	written []*ledger.Batch
}

// progress wants w to write a batch within 30 s and logs how long it
// took.
func (m *membership) progress(w *writing, what string) {
	m.t.Helper()
	m.progressBy(w, what, 1)
}

// progressBy wants w to write k batches within 30 s and logs how long
// they took.
func (m *membership) progressBy(w *writing, what string, k int) {
	m.t.Helper()
	n, t0 := w.count(), time.Now()
	for w.count() < n+k {
		if len(w.failed) > 0 {
			w.done(m.t) // fails with the writers' errors
		}
		if time.Since(t0) > 30*time.Second {
			m.t.Fatalf("%s: %d of %d batches written in 30 s", what, w.count()-n, k)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if k == 1 {
		m.t.Logf("%s: the next batch written in %v", what, time.Since(t0).Round(time.Millisecond))
		return
	}
	m.t.Logf("%s: the next %d batches written in %v", what, k, time.Since(t0).Round(time.Millisecond))
}

// finished stops w and wants no batch of it to have waited for a commit
// status that would not come.
func (m *membership) finished(w *writing, what string) {
	m.t.Helper()
	b, slowest := w.done(m.t)
	st := m.l.Stats()
	m.t.Logf("%s: %d batches written by four writers, the slowest in %v (transactions sent again so far %d, after %v)",
		what, len(b), slowest.Round(time.Millisecond), st.Resent, st.ResendAfter.Round(time.Millisecond))
	if slowest >= m.l.cfg.Timeout/2 {
		m.t.Fatalf("%s: a batch took %v", what, slowest)
	}
	m.written = append(m.written, b...)
}

// needed has the writes of w need orderer k, a consenter of n: once k
// says it is one, other orderers (not the leader) stop until the quorum
// is left only with k (of three Raft consenters one stops, of four BFT
// ones one, of four Raft one, of five BFT one, of five Raft two), and
// batches must come — five, so that one at least was submitted after
// the stop (each of the four writers has one in flight at a time); the
// others start again. A BFT consenter that has just joined often runs a
// few blocks behind the others while they write, and drops a proposal for
// a sequence ahead of its own; when the quorum needs it, the leader's
// proposal then waits for a view change (about 8 s here) — two, if the
// next view's leader were the orderer stopped — or views change for
// longer (CI once: views 5 to 9 in 30 s, 4 of 5 batches). So of BFT the
// orderers stop only once every one is level (bftLevel: in the view and
// under the leader most orderers are in, at most one decision behind) —
// not k alone: the quorum left needs each orderer that stays, and
// another may trail after the update that made k a consenter (CI once:
// orderer 2 in view 6 while the others were in view 8, k level; with
// orderer 3 stopped, 0 of 5 batches in 30 s).
func (m *membership) needed(w *writing, k string, n int) {
	m.t.Helper()
	q := n/2 + 1 // a Raft cluster's majority
	if m.typ == "BFT" {
		q = ordering{typ: m.typ, consenters: n}.quorum(n)
	}
	ordererCaughtUp(m.t, m.p, k, m.ch, "consenter")
	if m.typ == "BFT" {
		bftLevel(m.t, m.p, m.ch, n)
	}
	leader := clusterLeader(m.t, m.p)
	// Of BFT, not the next view's leader either (the consenter after the
	// leader in ID order; IDs here are the orderers' numbers): should the
	// quorum stall, the view change would elect an orderer stopped, and
	// another view change would follow.
	next := ""
	if l, _ := strconv.Atoi(leader); m.typ == "BFT" {
		next = strconv.Itoa(l%n + 1)
	}
	var others []string
	for i := 1; i <= n && len(others) < n-q; i++ {
		if c := strconv.Itoa(i); c != k && c != leader && c != next {
			others = append(others, c)
		}
	}
	if len(others) < n-q {
		m.t.Fatalf("of %d orderers, %d to stop but not %s (new), %s (leading) or %s (leading next): %v", n, n-q, k, leader, next, others)
	}
	stopped := map[string]bool{}
	m.t.Cleanup(func() {
		for _, c := range others {
			if stopped[c] {
				script(m.t, m.p, "start-orderer", c)
			}
		}
	})
	for _, c := range others {
		script(m.t, m.p, "stop-orderer", c)
		stopped[c] = true
	}
	m.progressBy(w, fmt.Sprintf("orderer(s) %s stopped, %d of %d left, orderer %s a consenter", strings.Join(others, ", "), n-len(others), n, k), 5)
	for _, c := range others {
		script(m.t, m.p, "start-orderer", c)
		stopped[c] = false
	}
}

// update submits the configuration update that edit makes of the
// Orderer group of configuration block cfg, signed by every orderer
// organisation's admin, and returns the configuration block it made.
func update(t *testing.T, p *Profile, ch *Channel, cfg *common.Block, edit func(og *common.ConfigGroup)) *common.Block {
	t.Helper()
	ctx := context.Background()
	u := ordererUpdate(t, cfg, p.Channel, edit)
	env := signedConfigUpdate(t, p.Channel, u, ordererAdmins(t, p, cfg)...)
	// To an orderer cfg names, the first that takes it: the profile's
	// orderer may be the one removed.
	c, err := blockConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := channelOrderers(c)
	if err != nil {
		t.Fatal(err)
	}
	var why []string
	for _, e := range ends {
		err := broadcastTo(ctx, e, env)
		if err == nil {
			return nextConfigBlock(t, ctx, ch, cfg.Header.Number)
		}
		why = append(why, e.addr+": "+err.Error())
	}
	t.Fatalf("no orderer took the configuration update: %s", strings.Join(why, "; "))
	return nil
}

// wholeCluster asks the channel's orderers until each one its newest
// configuration names answers (n of them; 0: any number) at one height —
// with past 0, for a channel no one writes to — or, past > 0, for one
// that is written to, each past block past (at heights that differ as
// each orderer adds the blocks in its time; a new BFT consenter on these
// cores keeps a few blocks behind the others while the writes go on). For
// 60 s at most: an orderer added again catches up first.
func wholeCluster(t *testing.T, ch *Channel, n int, past uint64) OrdererAnswers {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, err := AskOrderers(context.Background(), ch)
		if err != nil {
			t.Fatal(err)
		}
		hs := heightsOf(a)
		level := slices.Min(hs) == slices.Max(hs)
		if past > 0 {
			level = slices.Min(hs) > past
		}
		if (n == 0 || len(a.Answers) == n) && !slices.ContainsFunc(a.Answers, func(a OrdererAnswer) bool { return a.Error != "" }) && level {
			return a
		}
		if time.Now().After(deadline) {
			var got []string
			for _, x := range a.Answers {
				got = append(got, fmt.Sprintf("%s at %d %s", x.Address, x.Height, x.Error))
			}
			want := "at one height"
			if past > 0 {
				want = fmt.Sprintf("past block %d", past)
			}
			t.Fatalf("the orderers for 60 s: %s; want %d answering %s", strings.Join(got, "; "), n, want)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// ordererCaughtUp waits (60 s at most) until orderer n is active at the
// peer's height when asked (while writers write, a follower pulling blocks
// stays a few behind) and, rel not "", in that relation to the channel
// (consenter: a follower switches to ordering once it reads the update
// naming it, a while after it is level in height), as its channel
// participation API says (scripts/fabric.sh orderer-channel; a follower
// serves no Deliver).
func ordererCaughtUp(t *testing.T, p *Profile, n string, ch *Channel, rel string) {
	t.Helper()
	h, err := ch.Height(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := scriptOutput(p, "orderer-channel", n)
		var st struct {
			Relation string `json:"consensusRelation"`
			Status   string `json:"status"`
			Height   uint64 `json:"height"`
		}
		if err == nil {
			err = json.Unmarshal(out, &st)
		}
		if err == nil && st.Status == "active" && st.Height >= h && (rel == "" || st.Relation == rel) {
			t.Logf("orderer %s: %s, %s at height %d", n, st.Relation, st.Status, st.Height)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("orderer %s after 60 s: %+v, %v; the peer's height %d", n, st, err, h)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func heightsOf(a OrdererAnswers) []uint64 {
	hs := make([]uint64, len(a.Answers))
	for i, x := range a.Answers {
		hs[i] = x.Height
	}
	return hs
}

// nextConfigBlock waits (30 s at most) for a configuration block after
// block after, and returns it.
func nextConfigBlock(t *testing.T, ctx context.Context, ch *Channel, after uint64) *common.Block {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b := lastConfigBlock(t, ctx, ch)
		if b.Header.Number > after {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("no configuration block after block %d within 30 s", after)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// auditAcross audits l's chain from the blocks: the ledger's records and
// root, updates configuration updates read (at least), the last block
// signed under o; and has the orderers compare their heads with it.
func auditAcross(t *testing.T, l *Ledger, written []*ledger.Batch, o ordering, updates int) []OrdererHead {
	t.Helper()
	ctx := context.Background()
	chain, _ := audited(t, l)
	sameAsService(t, l, chain, written)
	rep, err := VerifyChain(ctx, l, l.cfg.Chaincode, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ordering != o.String() || rep.ConfigUpdates < updates {
		t.Fatalf("the audit: ordering %q, %d configuration updates; want %q, %d at least", rep.Ordering, rep.ConfigUpdates, o, updates)
	}
	heads, err := CompareOrderers(ctx, l.ch, rep)
	if err != nil {
		t.Fatalf("the orderers against the audited chain: %v", err)
	}
	for _, h := range heads {
		if !h.Agrees {
			t.Fatalf("orderer %s: %+v", h.Address, h)
		}
	}
	t.Logf("audit: %d blocks, %d configuration updates, %s, blocks signed under %s; %d orderers agree", rep.Blocks, rep.ConfigUpdates, rep.Ordering, rep.BlockValidation, len(heads))
	return heads
}

// removedConsenter is what leave took out of a configuration: the
// consenter (of Raft or of BFT), the orderer organisation whose endpoints
// named it, and that organisation whole if it went with it.
type removedConsenter struct {
	raft  *etcdraft.Consenter
	bft   *common.Consenter
	org   string
	group *common.ConfigGroup
}

// leave takes the orderer at addr out of og, an Orderer group: out of
// the consenters (a Raft cluster's, in the ConsensusType's metadata; a
// BFT cluster's, in the Orderers value, with BlockValidation made the
// quorum of the rest, as Fabric's config verifier wants) and out of its
// organisation's Endpoints — the organisation with it if it was its only
// orderer (Fabric refuses an orderer organisation without endpoints).
func leave(t *testing.T, og *common.ConfigGroup, addr string) *removedConsenter {
	t.Helper()
	gone := &removedConsenter{}
	at := consenterAt(t, addr)
	editConsenters(t, og,
		func(cs []*etcdraft.Consenter) []*etcdraft.Consenter {
			i := slices.IndexFunc(cs, func(c *etcdraft.Consenter) bool { return at(c.Host, c.Port) })
			if i < 0 {
				t.Fatalf("no Raft consenter at %s", addr)
			}
			gone.raft = cs[i]
			return slices.Delete(cs, i, i+1)
		},
		func(cs []*common.Consenter) []*common.Consenter {
			i := slices.IndexFunc(cs, func(c *common.Consenter) bool { return at(c.Host, c.Port) })
			if i < 0 {
				t.Fatalf("no BFT consenter at %s", addr)
			}
			gone.bft = cs[i]
			return slices.Delete(cs, i, i+1)
		})
	for name, g := range og.Groups {
		ends := endpoints(t, g)
		if !slices.Contains(ends.Addresses, addr) {
			continue
		}
		gone.org = name
		ends.Addresses = slices.DeleteFunc(ends.Addresses, func(a string) bool { return a == addr })
		if len(ends.Addresses) == 0 {
			gone.group = proto.Clone(g).(*common.ConfigGroup)
			delete(og.Groups, name)
		} else {
			g.Values["Endpoints"].Value = mustMarshal(t, ends)
		}
	}
	if gone.org == "" {
		t.Fatalf("no orderer organisation's endpoints name %s", addr)
	}
	return gone
}

// returnOrg puts back into og the organisation (with the orderer's
// endpoint) or the endpoint leave took out, not the consenter.
func (gone *removedConsenter) returnOrg(t *testing.T, og *common.ConfigGroup, addr string) {
	t.Helper()
	if gone.group != nil {
		og.Groups[gone.org] = proto.Clone(gone.group).(*common.ConfigGroup)
		return
	}
	g := og.Groups[gone.org]
	ends := endpoints(t, g)
	if !slices.Contains(ends.Addresses, addr) {
		ends.Addresses = append(ends.Addresses, addr)
	}
	g.Values["Endpoints"].Value = mustMarshal(t, ends)
}

// returnConsenter puts back into og the consenter leave took out.
func (gone *removedConsenter) returnConsenter(t *testing.T, og *common.ConfigGroup) {
	t.Helper()
	editConsenters(t, og,
		func(cs []*etcdraft.Consenter) []*etcdraft.Consenter { return append(cs, gone.raft) },
		func(cs []*common.Consenter) []*common.Consenter {
			cs = append(cs, gone.bft)
			slices.SortFunc(cs, func(a, b *common.Consenter) int { return int(a.Id) - int(b.Id) })
			return cs
		})
}

// consenterAt says whether host and port are addr's.
func consenterAt(t *testing.T, addr string) func(host string, port uint32) bool {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(portText)
	return func(h string, p uint32) bool { return h == host && int(p) == port }
}

// editConsenters edits og's consenters: a Raft cluster's with raft, a BFT
// cluster's with bft (and BlockValidation made the quorum of the result).
func editConsenters(t *testing.T, og *common.ConfigGroup, raft func([]*etcdraft.Consenter) []*etcdraft.Consenter, bft func([]*common.Consenter) []*common.Consenter) {
	t.Helper()
	var ct orderer.ConsensusType
	mustUnmarshal(t, og.Values["ConsensusType"].Value, &ct)
	switch ct.Type {
	case "etcdraft":
		var md etcdraft.ConfigMetadata
		mustUnmarshal(t, ct.Metadata, &md)
		md.Consenters = raft(md.Consenters)
		ct.Metadata = mustMarshal(t, &md)
		og.Values["ConsensusType"].Value = mustMarshal(t, &ct)
	case "BFT":
		var mapping common.Orderers
		mustUnmarshal(t, og.Values["Orderers"].Value, &mapping)
		mapping.ConsenterMapping = bft(mapping.ConsenterMapping)
		og.Values["Orderers"].Value = mustMarshal(t, &mapping)
		og.Policies["BlockValidation"].Policy = &common.Policy{Type: int32(common.Policy_SIGNATURE), Value: mustMarshal(t, bftBlockValidation(t, mapping.ConsenterMapping))}
	default:
		t.Fatalf("consensus type %q", ct.Type)
	}
}

func endpoints(t *testing.T, g *common.ConfigGroup) *common.OrdererAddresses {
	t.Helper()
	var ends common.OrdererAddresses
	if v := g.Values["Endpoints"]; v != nil {
		mustUnmarshal(t, v.Value, &ends)
	}
	return &ends
}

// ordererUpdate is the configuration update that changes cfgBlock's
// Orderer group as edit changes a copy of it: the Orderer group at its
// next version, listing what it keeps (at their versions, in the read set
// too); a changed value or policy at its next version; an organisation
// added with every element at version 0, one whose values changed at its
// version with those values at their next; one left out is removed.
func ordererUpdate(t *testing.T, cfgBlock *common.Block, channel string, edit func(og *common.ConfigGroup)) *common.ConfigUpdate {
	t.Helper()
	cfg, err := blockConfig(cfgBlock)
	if err != nil {
		t.Fatal(err)
	}
	chg := cfg.ChannelGroup
	og := chg.Groups["Orderer"]
	to := proto.Clone(og).(*common.ConfigGroup)
	edit(to)
	read := &common.ConfigGroup{Version: og.Version, Groups: map[string]*common.ConfigGroup{}, Values: map[string]*common.ConfigValue{}, Policies: map[string]*common.ConfigPolicy{}}
	write := &common.ConfigGroup{Version: og.Version + 1, ModPolicy: og.ModPolicy, Groups: map[string]*common.ConfigGroup{}, Values: map[string]*common.ConfigValue{}, Policies: map[string]*common.ConfigPolicy{}}
	for k, v := range og.Values {
		read.Values[k] = &common.ConfigValue{Version: v.Version}
	}
	for k, v := range to.Values {
		write.Values[k] = changedValue(og.Values[k], v)
	}
	for k, p := range og.Policies {
		read.Policies[k] = &common.ConfigPolicy{Version: p.Version}
	}
	for k, p := range to.Policies {
		write.Policies[k] = &common.ConfigPolicy{Version: p.Version}
		if was := og.Policies[k]; was != nil && !proto.Equal(was.Policy, p.Policy) {
			write.Policies[k] = &common.ConfigPolicy{Version: was.Version + 1, ModPolicy: was.ModPolicy, Policy: p.Policy}
		}
	}
	for k, g := range og.Groups {
		read.Groups[k] = &common.ConfigGroup{Version: g.Version}
	}
	for k, g := range to.Groups {
		was := og.Groups[k]
		if was == nil {
			write.Groups[k] = newElements(g)
			continue
		}
		w := &common.ConfigGroup{Version: was.Version}
		for vk, v := range g.Values {
			if c := changedValue(was.Values[vk], v); c.Value != nil {
				if w.Values == nil {
					w.Values = map[string]*common.ConfigValue{}
				}
				w.Values[vk] = c
			}
		}
		write.Groups[k] = w
	}
	path := func(o *common.ConfigGroup) *common.ConfigGroup {
		return &common.ConfigGroup{Version: chg.Version, Groups: map[string]*common.ConfigGroup{"Orderer": o}}
	}
	return &common.ConfigUpdate{ChannelId: channel, ReadSet: path(read), WriteSet: path(write)}
}

// changedValue is v in a write set: at was's version if unchanged
// (without its content), at the next with it if changed.
func changedValue(was, v *common.ConfigValue) *common.ConfigValue {
	if was == nil {
		return &common.ConfigValue{ModPolicy: v.ModPolicy, Value: v.Value}
	}
	if bytes.Equal(was.Value, v.Value) {
		return &common.ConfigValue{Version: was.Version}
	}
	return &common.ConfigValue{Version: was.Version + 1, ModPolicy: was.ModPolicy, Value: v.Value}
}

// newElements is g with every element's version 0, as a group added to a
// configuration is written.
func newElements(g *common.ConfigGroup) *common.ConfigGroup {
	out := proto.Clone(g).(*common.ConfigGroup)
	var zero func(g *common.ConfigGroup)
	zero = func(g *common.ConfigGroup) {
		g.Version = 0
		for _, v := range g.Values {
			v.Version = 0
		}
		for _, p := range g.Policies {
			p.Version = 0
		}
		for _, c := range g.Groups {
			zero(c)
		}
	}
	zero(out)
	return out
}

// bftBlockValidation is the BlockValidation policy Fabric's config
// verifier wants of a BFT cluster: its quorum, ceil((n+f+1)/2), of the
// consenters' identities, in the mapping's order.
func bftBlockValidation(t *testing.T, cs []*common.Consenter) *common.SignaturePolicyEnvelope {
	env := &common.SignaturePolicyEnvelope{}
	var rules []*common.SignaturePolicy
	for i, c := range cs {
		rules = append(rules, &common.SignaturePolicy{Type: &common.SignaturePolicy_SignedBy{SignedBy: int32(i)}})
		env.Identities = append(env.Identities, &msp.MSPPrincipal{
			PrincipalClassification: msp.MSPPrincipal_IDENTITY,
			Principal:               mustMarshal(t, &msp.SerializedIdentity{Mspid: c.MspId, IdBytes: c.Identity}),
		})
	}
	q := ordering{typ: "BFT", consenters: len(cs)}.quorum(len(cs))
	env.Rule = &common.SignaturePolicy{Type: &common.SignaturePolicy_NOutOf_{NOutOf: &common.SignaturePolicy_NOutOf{N: int32(q), Rules: rules}}}
	return env
}

// ordererAdmins are the admins of the orderer organisations cfgBlock's
// configuration names, as scripts/fabric.sh lays out their material
// (their MSP ID "Orderer2MSP": crypto/ordererOrganizations/orderer2.tdsc.local).
func ordererAdmins(t *testing.T, p *Profile, cfgBlock *common.Block) []Org {
	t.Helper()
	cfg, err := blockConfig(cfgBlock)
	if err != nil {
		t.Fatal(err)
	}
	var out []Org
	og := cfg.ChannelGroup.Groups["Orderer"]
	for _, name := range slices.Sorted(maps.Keys(og.Groups)) {
		id := groupMSPID(t, og.Groups[name])
		dir := filepath.Join(ordererOrgDir(p, id), "users", "Admin@"+orgDomain(id), "msp")
		certs, _ := filepath.Glob(filepath.Join(dir, "signcerts", "*.pem"))
		keys, _ := filepath.Glob(filepath.Join(dir, "keystore", "*"))
		if len(certs) != 1 || len(keys) != 1 {
			t.Fatalf("orderer organisation %s (%s): no admin under %s", name, id, dir)
		}
		out = append(out, Org{MSPID: id, AdminCert: certs[0], AdminKey: keys[0]})
	}
	return out
}

func mustUnmarshal(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
}
