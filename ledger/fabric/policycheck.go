package fabric

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hyperledger/fabric-gateway/pkg/client"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer/lifecycle"
	"google.golang.org/protobuf/proto"
)

// ErrEndorsersShort is the error of a profile whose endorsers, asked as
// Ledger.endorsers asks them, do not satisfy the chaincode's endorsement
// policy: every transaction would be refused at commit
// (ENDORSEMENT_POLICY_FAILURE).
var ErrEndorsersShort = errors.New("fabric: the profile's endorsers do not satisfy the chaincode's endorsement policy")

// shortError is an ErrEndorsersShort with its own message.
type shortError struct{ msg string }

func (e *shortError) Error() string        { return e.msg }
func (e *shortError) Is(target error) bool { return target == ErrEndorsersShort }

// errCannotCheck marks a policy the check cannot judge.
var errCannotCheck = errors.New("cannot check the profile's endorsers against it")

// peersOf is one peer of each organisation named, each taken to be a valid
// member of its organisation with the peer role: what a transaction asking
// those organisations to endorse it can count on.
type peersOf []string

func (p peersOf) count() int { return len(p) }

func (p peersOf) satisfies(i int, pr *msp.MSPPrincipal) bool {
	r, ok := peerRole(pr)
	return ok && r.MspIdentifier == p[i]
}

// peerRole returns the role principal pr if a peer satisfies it (the
// roles member and peer), ok false for any other principal.
func peerRole(pr *msp.MSPPrincipal) (r *msp.MSPRole, ok bool) {
	if pr.GetPrincipalClassification() != msp.MSPPrincipal_ROLE {
		return nil, false
	}
	r = new(msp.MSPRole)
	if proto.Unmarshal(pr.Principal, r) != nil {
		return nil, false
	}
	return r, r.Role == msp.MSPRole_MEMBER || r.Role == msp.MSPRole_PEER
}

// endorsersNeeded is how many of the profile's endorsers a transaction
// asks under the chaincode's endorsement policy ap (a reference resolved in
// the channel configuration cfg): the profile's EndorsersAsked(), or more
// if sets of that many do not all satisfy the policy — the fewest such
// that every set of them does, since the ones a transaction asks turn, and
// peers away are left out —, each organisation's peer endorsing. A profile
// without endorsers leaves the choice to the gateway: 0. If not even every
// endorser listed satisfies the policy, the ErrEndorsersShort error names
// the field. A policy that names principals other than organisations'
// members and peers (an admin, an identity, an OU) cannot be judged:
// errCannotCheck.
func endorsersNeeded(p *Profile, chaincode string, cfg *common.Config, ap *peer.ApplicationPolicy) (int, error) {
	if len(p.Endorsers) == 0 {
		return 0, nil
	}
	text := policyText(ap)
	for _, pr := range policyPrincipals(cfg, ap) {
		if _, ok := peerRole(pr); !ok {
			return 0, fmt.Errorf("chaincode %s's endorsement policy %s names a %s principal: %w", chaincode, text, pr.GetPrincipalClassification(), errCannotCheck)
		}
	}
	for k := p.EndorsersAsked(); k <= len(p.Endorsers); k++ {
		short, err := shortSubset(p.Endorsers, k, cfg, ap)
		if err != nil {
			return 0, fmt.Errorf("chaincode %s's endorsement policy %s: %v: %w", chaincode, text, err, errCannotCheck)
		}
		if short == nil {
			return k, nil
		}
	}
	return 0, &shortError{fmt.Sprintf("fabric: profile: field endorsers: the peers of %s, every endorser listed, do not satisfy chaincode %s's endorsement policy %s (the peers would refuse every transaction at commit, ENDORSEMENT_POLICY_FAILURE)",
		strings.Join(p.Endorsers, ", "), chaincode, text)}
}

// shortSubset returns the first set of k of endorsers whose peers do not
// satisfy the policy ap, nil if every such set does.
func shortSubset(endorsers []string, k int, cfg *common.Config, ap *peer.ApplicationPolicy) (short []string, err error) {
	eachSubset(endorsers, k, func(set []string) bool {
		ok, _, e := evalApplication(cfg, ap, peersOf(set))
		if e != nil || !ok {
			short, err = set, e
			return false
		}
		return true
	})
	return short, err
}

// leastNeeded is the fewest of endorsers any set of which satisfies the
// policy ap (0 if not even all of them do, or it cannot be told).
func leastNeeded(endorsers []string, cfg *common.Config, ap *peer.ApplicationPolicy) int {
	for k := 1; k <= len(endorsers); k++ {
		if short, err := shortSubset(endorsers, k, cfg, ap); err != nil {
			return 0
		} else if short == nil {
			return k
		}
	}
	return 0
}

// eachSubset calls fn with every subset of k of set, in order, each a
// slice of its own, until fn returns false.
func eachSubset(set []string, k int, fn func([]string) bool) {
	sub := make([]string, 0, k)
	var walk func(from int) bool
	walk = func(from int) bool {
		if len(sub) == k {
			return fn(append([]string(nil), sub...))
		}
		for i := from; i <= len(set)-(k-len(sub)); i++ {
			sub = append(sub, set[i])
			more := walk(i + 1)
			sub = sub[:len(sub)-1]
			if !more {
				return false
			}
		}
		return true
	}
	walk(0)
}

// chaincodePolicy reads the chaincode's endorsement policy from its
// committed definition (_lifecycle QueryChaincodeDefinition, which a
// member of the channel may ask), and for a policy that refers to the
// channel's configuration, that configuration (its newest config block).
func (c *Channel) chaincodePolicy(ctx context.Context, chaincode string) (*peer.ApplicationPolicy, *common.Config, error) {
	args, err := proto.Marshal(&lifecycle.QueryChaincodeDefinitionArgs{Name: chaincode})
	if err != nil {
		return nil, nil, err
	}
	res, err := c.network.GetContract(lifecycleNamespace).EvaluateWithContext(ctx, "QueryChaincodeDefinition", client.WithBytesArguments(args))
	if err != nil {
		return nil, nil, fmt.Errorf("the definition of chaincode %s: %w", chaincode, err)
	}
	var def lifecycle.QueryChaincodeDefinitionResult
	if err := proto.Unmarshal(res, &def); err != nil {
		return nil, nil, fmt.Errorf("the definition of chaincode %s: %w", chaincode, err)
	}
	if def.ValidationPlugin != "vscc" {
		return nil, nil, fmt.Errorf("chaincode %s: validation plugin %q (only the builtin vscc's policy is known): %w", chaincode, def.ValidationPlugin, errCannotCheck)
	}
	ap := new(peer.ApplicationPolicy)
	if err := proto.Unmarshal(def.ValidationParameter, ap); err != nil || ap.GetType() == nil {
		return nil, nil, fmt.Errorf("chaincode %s: endorsement policy: %v: %w", chaincode, err, errCannotCheck)
	}
	if ap.GetChannelConfigPolicyReference() == "" {
		return ap, nil, nil
	}
	b, err := c.lastConfigBlock(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("the channel's configuration: %w", err)
	}
	cfg, err := blockConfig(b)
	if err != nil {
		return nil, nil, fmt.Errorf("the channel's configuration: %w", err)
	}
	return ap, cfg, nil
}

// CheckEndorsers checks the profile's endorsers against the chaincode's
// endorsement policy as its definition on the channel gives it now, and
// sets how many of them a transaction asks (see endorsersNeeded): the
// profile's EndorsersNeeded, or more while the policy needs more (logged).
// An error wrapping ErrEndorsersShort names the profile's field: not even
// every endorser listed satisfies the policy. A policy it cannot judge is
// logged and passes (the profile's number is asked). Init runs it; a
// service that opens a space already made (tdsc fabric serve) runs it at
// start, and a ledger runs it again before its next transaction once its
// follower has read a new definition of the chaincode, and when the peers
// refuse a transaction for its endorsements.
func (l *Ledger) CheckEndorsers(ctx context.Context) error {
	l.policyMu.Lock()
	defer l.policyMu.Unlock()
	return l.checkEndorsers(ctx)
}

// checkEndorsers is CheckEndorsers with policyMu held.
func (l *Ledger) checkEndorsers(ctx context.Context) error {
	at := l.definitions.Load() // read first: a definition read meanwhile checks again
	ctx, cancel := context.WithTimeout(ctx, l.cfg.Timeout)
	defer cancel()
	rep, err := CheckProfile(ctx, l.ch, l.cfg.Profile, l.cfg.Chaincode)
	switch {
	case errors.Is(err, ErrEndorsersShort):
		l.short.Store(&err) // asked as before: no number of them would do
	case err != nil:
		return fmt.Errorf("fabric: checking the profile's endorsers: %w", err) // checked again next time
	case rep.NotJudged != "":
		l.short.Store(nil)
		l.cfg.Log.Info("fabric: the profile's endorsers not checked", "err", rep.NotJudged)
		l.ask(rep.Asked, "")
	default:
		l.short.Store(nil)
		l.ask(rep.Asked, rep.Policy)
		if rep.Asked == rep.EndorsersNeeded && rep.Enough > 0 && rep.Enough < rep.Asked {
			l.cfg.Log.Info("fabric: the chaincode's endorsement policy is met by fewer endorsers than a transaction asks (profile field endorsersNeeded)",
				"chaincode", l.cfg.Chaincode, "policy", rep.Policy, "asked", rep.Asked, "enough", rep.Enough)
		}
	}
	l.policyAt.Store(at)
	return err
}

// EndorsersReport is what CheckProfile found: the chaincode's endorsement
// policy, and how many of the profile's endorsers a transaction asks
// under it.
type EndorsersReport struct {
	Chaincode string   `json:"chaincode"`
	Policy    string   `json:"policy,omitempty"`    // the endorsement policy, as the audit writes it ("" if not read)
	Endorsers []string `json:"endorsers,omitempty"` // the profile's (none: the gateway chooses)
	// EndorsersNeeded is how many a transaction asks at least, by the
	// profile (its field endorsersNeeded, 0 taken as every endorser).
	EndorsersNeeded int `json:"endorsersNeeded"`
	// Asked is how many a transaction asks under the policy: EndorsersNeeded
	// or more (0: the gateway chooses, or no number would do).
	Asked int `json:"asked"`
	// Enough is the fewest of the endorsers any set of which satisfies the
	// policy (0 if none does, or it cannot be told).
	Enough int `json:"enough,omitempty"`
	// NotJudged says why the policy could not be judged (principals other
	// than members and peers, another validation plugin): the profile's
	// number is asked.
	NotJudged string `json:"notJudged,omitempty"`
}

// CheckProfile reads chaincode's endorsement policy from its definition on
// the channel (chaincodePolicy) and checks the profile's endorsers against
// it (endorsersNeeded). If not even every endorser listed satisfies it, the
// report comes with the ErrEndorsersShort error naming the field; other
// errors are the network's.
func CheckProfile(ctx context.Context, ch *Channel, p *Profile, chaincode string) (*EndorsersReport, error) {
	rep := &EndorsersReport{Chaincode: chaincode, Endorsers: p.Endorsers, EndorsersNeeded: p.EndorsersAsked(), Asked: p.EndorsersAsked()}
	ap, cfg, err := ch.chaincodePolicy(ctx, chaincode)
	if err == nil {
		rep.Policy = policyText(ap)
		rep.Asked, err = endorsersNeeded(p, chaincode, cfg, ap)
	}
	switch {
	case errors.Is(err, errCannotCheck):
		rep.Asked, rep.NotJudged = p.EndorsersAsked(), err.Error()
		return rep, nil
	case err != nil && !errors.Is(err, ErrEndorsersShort):
		return nil, err
	}
	if len(p.Endorsers) > 1 {
		rep.Enough = leastNeeded(p.Endorsers, cfg, ap)
	}
	return rep, err
}

// ask sets how many endorsers a transaction asks, and logs a change.
func (l *Ledger) ask(need int, policy string) {
	old := int(l.asked.Swap(int64(need)))
	if need == old || need == 0 {
		return
	}
	if floor := l.cfg.Profile.EndorsersAsked(); need > floor {
		l.cfg.Log.Warn("fabric: the chaincode's endorsement policy needs more endorsers a transaction than the profile's field endorsersNeeded; asking more",
			"chaincode", l.cfg.Chaincode, "policy", policy, "asked", need, "was", old, "endorsersNeeded", floor, "endorsers", len(l.cfg.Profile.Endorsers))
	} else {
		l.cfg.Log.Info("fabric: endorsers a transaction asks", "chaincode", l.cfg.Chaincode, "policy", policy, "asked", need, "was", old)
	}
}

// policyShort is the ErrEndorsersShort error of the last check of the
// profile's endorsers against the chaincode's policy, or nil: not even
// every endorser listed satisfies the policy (writes are answered
// unavailable until a new profile).
func (l *Ledger) policyShort() error {
	if e := l.short.Load(); e != nil {
		return *e
	}
	return nil
}

// endorsersAsked is how many of the profile's endorsers a transaction
// asks now: the profile's EndorsersNeeded, or more while the chaincode's
// policy needs more (CheckEndorsers).
func (l *Ledger) endorsersAsked() int { return int(l.asked.Load()) }

// followPolicy checks the profile's endorsers again if the follower read
// a definition of the chaincode since they were last checked: how many a
// transaction asks, and whether they all fall short (even one endorser
// listed: short under one definition, enough under the next).
func (l *Ledger) followPolicy(ctx context.Context) {
	if len(l.cfg.Profile.Endorsers) == 0 || l.definitions.Load() == l.policyAt.Load() {
		return
	}
	l.policyMu.Lock()
	defer l.policyMu.Unlock()
	if l.definitions.Load() == l.policyAt.Load() {
		return // checked by another transaction meanwhile
	}
	err := l.checkEndorsers(ctx)
	if err == nil || errors.Is(err, ErrEndorsersShort) {
		l.policyFailures = failureLog{}
		return
	}
	// Every transaction checks again while it fails: logged once every
	// policyLogEvery, with how many checks failed since.
	if n, ok := l.policyFailures.failed(time.Now(), policyLogEvery); ok {
		l.cfg.Log.Info("fabric: the chaincode was defined again and its policy could not be read; checking again before the next transaction",
			"failed", n, "err", err)
	}
}

// policyLogEvery is how often followPolicy logs checks that keep failing.
const policyLogEvery = 10 * time.Second

// failureLog spaces out the log of a failure that repeats: the first is
// logged, then one every interval, with how many failed since the last.
type failureLog struct {
	at time.Time // the last logged (zero: none yet)
	n  int       // failures since
}

// failed counts a failure at now and says whether to log it, with the
// failures it stands for.
func (f *failureLog) failed(now time.Time, every time.Duration) (n int, log bool) {
	f.n++
	if !f.at.IsZero() && now.Sub(f.at) < every {
		return 0, false
	}
	n, f.at, f.n = f.n, now, 0
	return n, true
}
