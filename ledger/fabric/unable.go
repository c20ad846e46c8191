package fabric

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"google.golang.org/grpc/status"

	"github.com/tdsc/tdsc/chaincode/wire"
)

// unableProbeEvery is how often the peer of an organisation marked unable
// to endorse is asked whether it can again.
const unableProbeEvery = 250 * time.Millisecond

// unableEndorsers marks the organisations whose peer answered a proposal
// with a failure of its own rather than the chaincode's verdict: its
// chaincode service down or unreachable ("could not launch chaincode"),
// the chaincode not installed or not approved there, the peer unreachable
// from the gateway; or that did not answer a probe within answerWithin
// (a peer that hangs, see endorseWatch). A peer in that state may still
// stream blocks, so peerHeights does not see it. A policy that needs only
// some organisations asks the others meanwhile (Ledger.endorsers); a probe
// asks the peer alone to run the chaincode (the genesis query) every
// unableProbeEvery until it does, so finding it back costs no transaction.
type unableEndorsers struct {
	mu     sync.Mutex
	marked map[string]string // by MSP ID: the peer's message
	marks  atomic.Int64      // marks set since Open
	probes sync.WaitGroup
	closed bool // no probe starts once set (under mu): see close
}

// startProbe counts a probe about to start, unless the ledger is closing
// (close): a mark may come from a probe of the ledger's health
// (WritesReady), which Close does not wait for.
func (u *unableEndorsers) startProbe() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return false
	}
	u.probes.Add(1)
	return true
}

// close lets no probe start and waits for those running (the ledger's
// stop ends them).
func (u *unableEndorsers) close() {
	u.mu.Lock()
	u.closed = true
	u.mu.Unlock()
	u.probes.Wait()
}

// is says whether msp's peer is marked unable to endorse.
func (u *unableEndorsers) is(msp string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	_, ok := u.marked[msp]
	return ok
}

// why gives the peer's message msp's mark holds, if msp is marked.
func (u *unableEndorsers) why(msp string) (string, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	why, ok := u.marked[msp]
	return why, ok
}

// mark marks msp's peer unable, saying why; it reports whether the peer
// was not marked before.
func (u *unableEndorsers) mark(msp, why string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.marked[msp]; ok {
		return false
	}
	if u.marked == nil {
		u.marked = map[string]string{}
	}
	u.marked[msp] = why
	u.marks.Add(1)
	return true
}

func (u *unableEndorsers) clear(msp string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.marked, msp)
}

// list returns the organisations marked, in order.
func (u *unableEndorsers) list() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Sorted(maps.Keys(u.marked))
}

// payloadsDiffer is the gateway's detail for an endorser whose answer
// differs from the first one's (fabric internal/pkg/gateway, endorsement.go):
// the two saw different state — a block apart, or a new definition of the
// chaincode committed on one of them —, which is no failure of that peer
// (a conflict: resubmitted).
const payloadsDiffer = "ProposalResponsePayloads do not match"

// definedDuringInvoke is in a peer's message for a proposal during which
// the chaincode was defined again (fabric core/chaincode/lifecycle,
// endorsement_info.go): the peer is well, the next proposal runs on the new
// definition (a conflict: resubmitted).
const definedDuringInvoke = "changed during invoke"

// notPeerFailure says whether a peer's message in the gateway's error is
// not a failure of that peer: the chaincode's verdict (a tdsc wire
// message), an answer that differs from another endorser's, or a
// definition changed during the proposal.
func notPeerFailure(msg string) bool {
	_, verdict := wire.ParseMessage(msg)
	return verdict || msg == payloadsDiffer || strings.Contains(msg, definedDuringInvoke)
}

// peerFailures returns, of a failed proposal, the organisations whose peer
// failed on its own — a detail of the gateway's error that is not
// notPeerFailure — with the peer's message.
func peerFailures(err error) map[string]string {
	st, ok := status.FromError(err) // a client.TransactionError's, or Evaluate's own
	if !ok {
		return nil
	}
	var out map[string]string
	for _, d := range st.Details() {
		d, ok := d.(*gateway.ErrorDetail)
		if !ok || d.GetMspId() == "" {
			continue
		}
		if notPeerFailure(d.GetMessage()) {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[d.GetMspId()] = d.GetMessage()
	}
	return out
}

// markUnable marks the organisations of failed as unable to endorse and
// starts a probe of each not marked before.
func (l *Ledger) markUnable(failed map[string]string) {
	for _, msp := range slices.Sorted(maps.Keys(failed)) {
		if !l.unable.mark(msp, failed[msp]) {
			continue
		}
		if asked, able := l.endorsersAsked(), l.endorsersAble(); able < asked {
			l.cfg.Log.Warn("fabric: an endorser's peer cannot endorse; writes wait until enough can", "org", msp, "asked", asked, "able", able, "err", firstLine(failed[msp]))
		} else {
			l.cfg.Log.Info("fabric: an endorser's peer cannot endorse; asking the others while it cannot", "org", msp, "err", firstLine(failed[msp]))
		}
		if !l.unable.startProbe() {
			continue
		}
		go func() {
			defer l.unable.probes.Done()
			l.probeUnable(msp)
		}()
	}
}

// probeUnable asks msp's peer alone to run the chaincode every
// unableProbeEvery until it does (an answer or the chaincode's own
// refusal) or the ledger closes, then clears its mark.
func (l *Ledger) probeUnable(msp string) {
	t := time.NewTicker(unableProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := l.probeContext(l.cfg.Timeout)
		ok := canEndorse(ctx, l.contract, msp) == nil
		cancel()
		if ok {
			l.unable.clear(msp)
			l.cfg.Log.Info("fabric: an endorser's peer endorses again", "org", msp)
			return
		}
	}
}

// genesisAt asks msp's peer alone for the space's genesis: nil once that
// peer runs the chaincode and holds the genesis.
func (l *Ledger) genesisAt(ctx context.Context, msp string) error {
	return genesisAt(ctx, l.contract, msp)
}

func genesisAt(ctx context.Context, c *client.Contract, msp string) error {
	_, err := c.EvaluateWithContext(ctx, wire.TxGenesis, client.WithEndorsingOrganizations(msp))
	return err
}

// canEndorse asks msp's peer alone to run c's chaincode (genesisAt): nil
// if it answers, or refuses as the chaincode (no genesis yet), else the
// error.
func canEndorse(ctx context.Context, c *client.Contract, msp string) error {
	err := genesisAt(ctx, c, msp)
	if err == nil {
		return nil
	}
	if se, _ := classify(StageEndorse, err); isLedgerError(se.Err) && !errors.Is(se.Err, ErrUnavailable) {
		return nil
	}
	return err
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
