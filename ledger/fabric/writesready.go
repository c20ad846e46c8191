package fabric

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
)

// ErrWritesWait is wrapped by WritesReady's errors about the endorsers
// and the orderers: writes would wait (retried as unavailable for the
// ledger's timeout).
var ErrWritesWait = errors.New("fabric: writes wait")

// WritesReady is Ready, and also says why writes would wait now: fewer of
// the profile's endorsers can endorse than a transaction asks (a peer whose
// block stream broke, or one that fails to run the chaincode: under a
// policy that needs every endorser, one organisation's peer or chaincode
// service down), or the chaincode's policy needs more than every endorser
// the profile lists (the policy grown with an organisation the profile
// does not list: a new profile and a restart; checked again, as before a
// transaction, once the follower has read a new definition of the
// chaincode), or no orderer of the channel answers (ErrNoOrderer: down,
// unreachable or hanging; see askOrderers). Writes submitted meanwhile
// are not refused: they are retried as unavailable until they go or the
// ledger's timeout ends them.
//
// It asks each endorser's peer not already known unable to run the
// chaincode (the genesis query, at most once every HeightFresh for all
// probes together), so an idle ledger finds a chaincode service down, or
// a peer that hangs, before a write does; a peer that fails it, or does
// not answer within answerWithin, is marked unable as a failed proposal
// marks it (asked no more under a policy that needs only some, until
// found back); and it asks the channel's orderers, as its configuration
// names them, for its newest block (askOrderers, as often). The ledger
// service's /readyz/writes answers 503 with it.
func (l *Ledger) WritesReady(ctx context.Context) error {
	if err := l.Ready(ctx); err != nil {
		return err
	}
	l.followPolicy(ctx) // a definition read since the last check: check again
	if err := l.policyShort(); err != nil {
		return fmt.Errorf("%w: %w", ErrWritesWait, err)
	}
	need := l.endorsersAsked()
	if need == 0 || len(l.cfg.Profile.Endorsers) == 0 {
		return l.ordererAnswers(ctx) // the gateway chooses the endorsers
	}
	if _, err := l.endorseProbe.ask(ctx, l.askEndorsers, time.Now); err != nil {
		return err
	}
	if err := l.endorsersCan(need); err != nil {
		return err
	}
	return l.ordererAnswers(ctx)
}

// ordererAnswers says whether an orderer of the channel answers
// (askOrderers, shared by the probes of a second): nil, or an
// ErrWritesWait wrapping ErrNoOrderer.
func (l *Ledger) ordererAnswers(ctx context.Context) error {
	if _, err := l.ordererProbe.ask(ctx, l.askOrderers, time.Now); err != nil {
		if errors.Is(err, ErrNoOrderer) {
			return fmt.Errorf("%w: %w", ErrWritesWait, err)
		}
		return err
	}
	return nil
}

// endorsersCan says, of the profile's endorsers, whether at least need
// can endorse now: nil, or an ErrWritesWait naming those that cannot and
// why (cannotNow).
func (l *Ledger) endorsersCan(need int) error {
	return WritesWait(l.cfg.Profile.Endorsers, need, l.cannotNow())
}

// cannotNow returns the profile's endorsers that cannot endorse now
// (cannotEndorse: away, or marked unable), by MSP ID, with why.
func (l *Ledger) cannotNow() map[string]string {
	cannot := map[string]string{}
	for _, msp := range l.cfg.Profile.Endorsers {
		if l.heights.isAway(msp) {
			cannot[msp] = "its peer's block stream is broken"
		} else if why, ok := l.unable.why(msp); ok {
			cannot[msp] = "its peer cannot endorse: " + firstLine(why)
		}
	}
	return cannot
}

// WritesWait says whether writes wait when a transaction asks asked of
// endorsers and those of cannot (by MSP ID, with why) cannot endorse: an
// ErrWritesWait naming each that cannot, in the endorsers' order, if
// fewer than asked can; nil if enough can.
func WritesWait(endorsers []string, asked int, cannot map[string]string) error {
	var why []string
	for _, msp := range endorsers {
		if w, ok := cannot[msp]; ok {
			why = append(why, msp+": "+w)
		}
	}
	if able := len(endorsers) - len(why); able < asked {
		return fmt.Errorf("%w: a transaction asks %d of the profile's %d endorsers and %d can endorse now (%s)",
			ErrWritesWait, asked, len(endorsers), able, strings.Join(why, "; "))
	}
	return nil
}

// endorsersAble counts the profile's endorsers that can endorse now.
func (l *Ledger) endorsersAble() int {
	return len(l.cfg.Profile.Endorsers) - len(l.cannotNow())
}

// askEndorsers asks the peer of each endorser neither away nor marked
// unable to run the chaincode, at once, and marks those that fail on their
// own, or do not answer within answerWithin, unable (markUnable: logged,
// probed until back). It returns ctx's error if ctx ended first; a peer
// that could not be asked otherwise (no answer of its own) is left as it
// was. Its answer carries nothing but the error (endorseProbe shares it).
func (l *Ledger) askEndorsers(ctx context.Context) (struct{}, error) {
	var asked []string
	for _, msp := range l.cfg.Profile.Endorsers {
		if !l.cannotEndorse(msp) {
			asked = append(asked, msp)
		}
	}
	errs := askPeers(ctx, l.contract, asked)
	if err := ctx.Err(); err != nil {
		return struct{}{}, fmt.Errorf("fabric: asking the endorsers' peers to run the chaincode: %w", err)
	}
	failed := map[string]string{}
	for msp, err := range errs {
		if errors.Is(err, errNoAnswer) {
			failed[msp] = err.Error()
		} else if why, ok := peerFailures(err)[msp]; ok {
			failed[msp] = why
		}
	}
	l.markUnable(failed)
	return struct{}{}, nil
}

// askPeers asks the peer of each of orgs, alone and all at once, to run
// c's chaincode (canEndorse), and returns the errors of those that cannot,
// by MSP ID: errNoAnswer for a peer that did not answer within
// answerWithin while ctx lasted.
func askPeers(ctx context.Context, c *client.Contract, orgs []string) map[string]error {
	var mu sync.Mutex
	errs := map[string]error{}
	var wg sync.WaitGroup
	for _, msp := range orgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := answer(ctx, func(ctx context.Context) error { return canEndorse(ctx, c, msp) })
			if err != nil {
				mu.Lock()
				errs[msp] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}

// AskEndorsers asks the peer of each of the profile's endorsers, alone and
// all at once, to run chaincode (the genesis query, as a Ledger's probes
// do), and returns those that cannot, by MSP ID, with why (for
// WritesWait): the peer's own failure (its chaincode service down, the
// chaincode not approved there) or the error of asking it. A peer that
// answers, or refuses as the chaincode (a space without its genesis yet),
// can.
func AskEndorsers(ctx context.Context, ch *Channel, p *Profile, chaincode string) map[string]string {
	out := map[string]string{}
	for msp, err := range askPeers(ctx, ch.network.GetContract(chaincode), p.Endorsers) {
		if errors.Is(err, errNoAnswer) {
			out[msp] = "its peer cannot endorse: " + err.Error()
		} else if why, ok := peerFailures(err)[msp]; ok {
			out[msp] = "its peer cannot endorse: " + firstLine(why)
		} else {
			out[msp] = "asking its peer: " + firstLine(err.Error())
		}
	}
	return out
}
