package fabric

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrWritesWait is wrapped by WritesReady's errors about the endorsers:
// writes would wait (retried as unavailable for the ledger's timeout).
var ErrWritesWait = errors.New("fabric: writes wait")

// WritesReady is Ready, and also says why writes would wait now: fewer of
// the profile's endorsers can endorse than a transaction asks (a peer whose
// block stream broke, or one that fails to run the chaincode: under a
// policy that needs every endorser, one organisation's peer or chaincode
// service down), or the chaincode's policy needs more than every endorser
// the profile lists (the policy grown with an organisation the profile
// does not list: a new profile and a restart). Writes submitted meanwhile
// are not refused: they are retried as unavailable until they go or the
// ledger's timeout ends them.
//
// It asks each endorser's peer not already known unable to run the
// chaincode (the genesis query, at most once every HeightFresh for all
// probes together), so an idle ledger finds a chaincode service down
// before a write does; a peer that fails it is marked unable as a failed
// proposal marks it (asked no more under a policy that needs only some,
// until found back). The ledger service's /readyz/writes answers 503 with
// it.
func (l *Ledger) WritesReady(ctx context.Context) error {
	if err := l.Ready(ctx); err != nil {
		return err
	}
	if err := l.policyShort(); err != nil {
		return fmt.Errorf("%w: %w", ErrWritesWait, err)
	}
	need := l.endorsersAsked()
	if need == 0 || len(l.cfg.Profile.Endorsers) == 0 {
		return nil // the gateway chooses the endorsers
	}
	if _, err := l.endorseProbe.ask(ctx, func(ctx context.Context) (uint64, error) { return 0, l.askEndorsers(ctx) }, time.Now); err != nil {
		return err
	}
	return l.endorsersCan(need)
}

// endorsersCan says, of the profile's endorsers, whether at least need
// can endorse now (neither away nor marked unable): nil, or an
// ErrWritesWait naming those that cannot and why.
func (l *Ledger) endorsersCan(need int) error {
	var cannot []string
	for _, msp := range l.cfg.Profile.Endorsers {
		if l.heights.isAway(msp) {
			cannot = append(cannot, msp+": its peer's block stream is broken")
		} else if why, ok := l.unable.why(msp); ok {
			cannot = append(cannot, msp+": its peer cannot endorse: "+firstLine(why))
		}
	}
	if able := len(l.cfg.Profile.Endorsers) - len(cannot); able < need {
		return fmt.Errorf("%w: a transaction asks %d of the profile's %d endorsers and %d can endorse now (%s)",
			ErrWritesWait, need, len(l.cfg.Profile.Endorsers), able, strings.Join(cannot, "; "))
	}
	return nil
}

// endorsersAble counts the profile's endorsers that can endorse now
// (neither away nor marked unable).
func (l *Ledger) endorsersAble() int {
	n := 0
	for _, msp := range l.cfg.Profile.Endorsers {
		if !l.cannotEndorse(msp) {
			n++
		}
	}
	return n
}

// askEndorsers asks the peer of each endorser neither away nor marked
// unable to run the chaincode, at once, and marks those that fail on their
// own unable (markUnable: logged, probed until back). It returns ctx's
// error if ctx ended first; a peer that could not be asked otherwise (no
// answer of its own) is left as it was.
func (l *Ledger) askEndorsers(ctx context.Context) error {
	var mu sync.Mutex
	failed := map[string]string{}
	var wg sync.WaitGroup
	for _, msp := range l.cfg.Profile.Endorsers {
		if l.cannotEndorse(msp) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := l.canEndorse(ctx, msp)
			if err == nil {
				return
			}
			if why, ok := peerFailures(err)[msp]; ok {
				mu.Lock()
				failed[msp] = why
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fabric: asking the endorsers' peers to run the chaincode: %w", err)
	}
	l.markUnable(failed)
	return nil
}
