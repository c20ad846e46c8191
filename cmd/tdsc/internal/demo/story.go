package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tdsc/tdsc/audit"
	"github.com/tdsc/tdsc/cmd/tdsc/internal/ledgerhttp"
	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/api"
	nodeclient "github.com/tdsc/tdsc/connector/client"
	"github.com/tdsc/tdsc/connector/dataplane"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/authority"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/ledger/rulebook"
	"github.com/tdsc/tdsc/ledger/verify"
	"github.com/tdsc/tdsc/policy"
	"github.com/tdsc/tdsc/suite"
)

// Options set how the demo runs.
type Options struct {
	// Dir holds everything the demo writes (required).
	Dir string
	// Out receives the story.
	Out io.Writer
	// Logger receives the components' logs; discarded when nil.
	Logger *slog.Logger
	// Ledger is the backend: BackendEmbedded (default) or BackendFabric.
	Ledger string
	// FabricProfile is the network profile scripts/fabric.sh up writes; the
	// demo deploys a fresh chaincode for its space on that network.
	FabricProfile string
	// Suite is the space's crypto suite: "intl" (default) or "gm" (SM2 keys
	// and tokens, SM3 hashes, tree and content hashes, SM2 checkpoints).
	Suite string
}

// Facts are what the story established, for the demo's test and for --keep.
type Facts struct {
	Dir          string
	LedgerURL    string
	LedgerVKey   string
	Connectors   map[string]string // participant id → connector URL
	OperatorTok  map[string]string // participant id → file holding its operator token
	AuditorTok   string
	RegulatorTok string
	Agreements   map[string]string // story name → agreement id
	// Pulled is the bytes each consumer pulled of each dataset, as the consumer
	// counted them: the ledger's flow report must say the same.
	Pulled   map[[2]string]int64 // {consumer, dataset} → bytes
	Report   audit.Report
	Verified verify.Report
	Failures []string
}

// Participants of the story.
const (
	Dept = "bj-transport-bureau" // a city government department holding public data
	Firm = "sh-mobility-tech"    // a domestic enterprise
	SGCo = "sg-urban-analytics"  // an enterprise registered outside the border
)

// Space rules the authority sets.
const (
	legalBasis     = "data-export-security-assessment"
	negativeListed = "health-records"
)

// Demo is a running demo space; Close stops it.
type Demo struct {
	*space
	Facts Facts
}

// story prints steps and keeps every expectation that failed.
type story struct {
	out   io.Writer
	facts *Facts
	start time.Time
}

func (s *story) step(n, title string) {
	fmt.Fprintf(s.out, "\n%s. %s\n", n, title)
}

func (s *story) say(format string, a ...any) { fmt.Fprintf(s.out, "   "+format+"\n", a...) }

// expect records a failure when ok is false; the demo then exits non-zero.
func (s *story) expect(ok bool, format string, a ...any) bool {
	msg := fmt.Sprintf(format, a...)
	if ok {
		fmt.Fprintf(s.out, "   ✓ %s\n", msg)
	} else {
		fmt.Fprintf(s.out, "   ✗ %s\n", msg)
		s.facts.Failures = append(s.facts.Failures, msg)
	}
	return ok
}

// Run starts the space and tells the story. The returned Demo is running;
// the caller closes it (at once, or after --keep). An error means the space
// could not be run at all; failed expectations are in Facts.Failures.
func Run(ctx context.Context, o Options) (*Demo, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	sp, err := startLedger(ctx, o)
	if err != nil {
		return nil, err
	}
	d := &Demo{space: sp, Facts: Facts{Dir: o.Dir, LedgerURL: sp.ledgerURL, LedgerVKey: sp.store.VerifierKey(),
		Connectors: map[string]string{}, OperatorTok: map[string]string{}, Agreements: map[string]string{},
		Pulled: map[[2]string]int64{}}}
	st := &story{out: o.Out, facts: &d.Facts, start: time.Now()}
	if err := d.tell(ctx, st); err != nil {
		d.Close()
		return nil, err
	}
	fmt.Fprintf(o.Out, "\nThe story took %s.\n", time.Since(st.start).Round(time.Millisecond))
	return d, nil
}

func (d *Demo) tell(ctx context.Context, s *story) error {
	sp := d.space
	fmt.Fprintf(s.out, "tdsc demo: a trusted data space on loopback\n")
	if sp.fabric != nil {
		fmt.Fprintf(s.out, "   ledger service %s (chaincode %s on Hyperledger Fabric: every organisation's peer endorses each batch)\n", sp.ledgerURL, sp.fabric.Chaincode())
	} else {
		fmt.Fprintf(s.out, "   ledger service %s (embedded store in %s)\n", sp.ledgerURL, filepath.Join(sp.dir, "ledger"))
	}
	fmt.Fprintf(s.out, "   space %s (crypto suite %s), authority %s, checkpoint key %s\n", sp.auth.Genesis().Space, sp.auth.Genesis().CryptoSuite(), sp.auth.ID(), d.Facts.LedgerVKey)

	// 1. Registration and space rules.
	s.step("1", "The authority registers three participants and sets the space's rules")
	people := []struct{ id, name, region, industry, orgType, credit string }{
		{Dept, "Beijing Municipal Transport Bureau", "CN-BJ", "transport", "government", ""},
		{Firm, "Shanghai Mobility Technology Co., Ltd.", "CN-SH", "transport", "enterprise", "91310000MA1FL8XQ37"},
		{SGCo, "Urban Analytics Pte. Ltd. (Singapore)", "SG", "analytics", "enterprise", ""},
	}
	keys := map[string]*identity.Key{}
	var recs []ledger.Record
	for _, p := range people {
		k, err := identity.Generate(sp.auth.Genesis().CryptoSuite(), "")
		if err != nil {
			return err
		}
		keys[p.id] = k
		r, err := sp.auth.Register(authority.Registration{ID: p.id, Name: p.name, Key: k.JWK(), Region: p.region,
			Industry: p.industry, OrgType: p.orgType, CreditCode: p.credit})
		if err != nil {
			return fmt.Errorf("register %s: %w", p.id, err)
		}
		recs = append(recs, r)
		s.say("%-22s %s, region %s, %s (key %s…)", p.id, p.name, p.region, p.orgType, k.KeyID()[:12])
	}
	rules := policy.SpaceRules{
		NegativeList: []policy.NegativeEntry{{Category: "human-genetic-resources", Reason: "Regulation on Human Genetic Resources"}},
		CrossBorder:  []policy.CrossBorderEntry{{Destination: "SG", MaxClassification: policy.Important, LegalBasis: legalBasis}},
		// Agreements on core data need the consumer's signature over the terms.
		CountersignedFor: []policy.Classification{policy.Core},
	}
	rr, err := sp.auth.SetRules(rules)
	if err != nil {
		return err
	}
	recs = append(recs, rr)
	rc, err := sp.auth.Submit(ctx, sp.ledger, recs...)
	if err != nil {
		return fmt.Errorf("authority batch: %w", err)
	}
	s.say("space rules: negative list [human-genetic-resources]; cross-border white-list SG up to important data, legal basis %q; agreements on core data must be countersigned", legalBasis)
	s.expect(rc.TreeSize == uint64(len(recs)), "one authority batch of %d records committed, signed by the key pinned at genesis", len(recs))
	if err := d.mixedSuite(ctx, s); err != nil {
		return err
	}

	for _, p := range people {
		n, err := sp.startNode(ctx, p.id, keys[p.id])
		if err != nil {
			return err
		}
		d.Facts.Connectors[p.id] = n.url
		d.Facts.OperatorTok[p.id] = filepath.Join(n.dir, "operator.token")
	}
	dept, firm, sgco := sp.nodes[Dept], sp.nodes[Firm], sp.nodes[SGCo]
	s.say("connectors up: %s %s, %s %s, %s %s", Dept, dept.url, Firm, firm.url, SGCo, sgco.url)

	// 2. Datasets and offers.
	s.step("2", "The department registers datasets of every classification level and offers them under policies")
	until := time.Date(2027, 12, 31, 23, 59, 59, 0, time.FixedZone("CST", 8*3600))
	datasets := []struct {
		id, title, class, category, content string
	}{
		{"ds-traffic-2026", "Urban traffic flow, 2026 (per road and hour)", "general", "transport", trafficCSV},
		{"ds-bus-ridership", "Bus ridership by line and stop", "important", "transport", ridershipCSV},
		{gridID, "Resident population grid (1 km)", "core", "population", popGridCSV()},
		{"ds-clinic-visits", "Community clinic visits by district", "general", negativeListed, "district,visits\nHaidian,1204\n"},
	}
	for _, ds := range datasets {
		if err := os.WriteFile(filepath.Join(dept.dir, ds.id+".csv"), []byte(ds.content), 0o600); err != nil {
			return err
		}
		_, err := dept.AddDataset(ctx, connector.NewDataset{ID: ds.id, Title: ds.title, Classification: ds.class, Category: ds.category,
			Rights: []string{ledger.RightHolding, ledger.RightUse, ledger.RightOperation}, ContentHash: digest.Of(d.hashAlg(), []byte(ds.content)).String(),
			Source: "file:" + ds.id + ".csv", RegistrationCode: "BJDR-2026-" + strings.ToUpper(ds.id[3:6])})
		if err != nil {
			return fmt.Errorf("dataset %s: %w", ds.id, err)
		}
		s.say("%-20s %-9s %-16s %s", ds.id, ds.class, ds.category, ds.title)
	}
	offers := []struct {
		id, dataset, what string
		policy            []byte
	}{
		{"offer-traffic-research", "ds-traffic-2026", fmt.Sprintf("research only, at most 2 uses, until %s, delete within 30 days", until.Format(time.RFC3339)),
			researchPolicy("offer-traffic-research", 2, until)},
		{"offer-ridership-research", "ds-bus-ridership", "research only, at most 5 uses, delete within 30 days", researchPolicy("offer-ridership-research", 5, until)},
		{"offer-population-research", "ds-population-grid", "research only", researchPolicy("offer-population-research", 5, until)},
		{"offer-clinic-research", "ds-clinic-visits", "research only", researchPolicy("offer-clinic-research", 5, until)},
	}
	offers = append(offers, struct {
		id, dataset, what string
		policy            []byte
	}{"offer-traffic-open", "ds-traffic-2026", "use, no further terms: open to any DSP connector, tdsc or not",
		[]byte(`{"@context":"https://w3id.org/dspace/2025/1/context.jsonld","@id":"offer-traffic-open","@type":"Offer","permission":[{"action":"use"}]}`)})
	op, err := policy.AuthorisedOperation(policy.OperationParams{ID: "offer-ridership-operation", Operator: Firm,
		Purposes: []string{"route-planning-service"}, NotAfter: until, MaxUses: 10, Region: "CN"})
	if err != nil {
		return fmt.Errorf("authorised-operation template: %w", err)
	}
	opJSON, err := json.Marshal(op)
	if err != nil {
		return err
	}
	offers = append(offers, struct {
		id, dataset, what string
		policy            []byte
	}{"offer-ridership-operation", "ds-bus-ridership",
		"public-data authorised operation (公共数据授权运营) for " + Firm + ": route-planning-service, operator in CN, at most 10 uses", opJSON})
	for _, o := range offers {
		if _, err := dept.AddOffer(ctx, connector.NewOffer{ID: o.id, Dataset: o.dataset, Policy: o.policy}); err != nil {
			return fmt.Errorf("offer %s: %w", o.id, err)
		}
		s.say("%-27s on %-20s %s", o.id, o.dataset, o.what)
	}

	// 3. Browse, negotiate, pull.
	s.step("3", "The enterprise browses the catalogue, negotiates, pulls one dataset (suspended and resumed on the way) and has another pushed to it")
	cat, err := firm.RemoteCatalog(ctx, dept.url, Dept)
	if err != nil {
		return fmt.Errorf("catalogue: %w", err)
	}
	seen := map[string]dsp.Policy{}
	var names []string
	for _, ds := range cat.Dataset {
		for _, p := range ds.HasPolicy {
			seen[p.ID] = p
			names = append(names, ds.ID+"/"+p.ID)
		}
	}
	s.say("%s sees: %s", Firm, strings.Join(names, ", "))
	_, popSeen := seen["offer-population-research"]
	s.expect(!popSeen, "the core population grid is not in %s's catalogue: core data never leaves CN-BJ", Firm)
	_, opSeen := seen["offer-ridership-operation"]
	s.expect(opSeen, "the authorised-operation offer is shown to %s, its named operator", Firm)

	traffic := d.negotiate(ctx, s, firm, dept, "offer-traffic-research", "research", "")
	if s.expect(traffic.State == "FINALIZED", "negotiation %s → %s: %s", short(traffic.ID), traffic.State, lastReason(traffic)) {
		d.Facts.Agreements["traffic"] = traffic.AgreementID
		s.say("agreement %s signed by both parties and committed to the ledger before FINALIZED", traffic.AgreementID)
	}
	d.pull(ctx, s, firm, traffic.AgreementID, "traffic.csv", trafficCSV, true)
	if ev, err := d.evidence(ctx, sp, traffic.AgreementID); err == nil {
		s.expect(ev == policy.EvidenceCountersigned, "the ledger records the agreement's evidence: %s (two tdsc nodes use the countersigned profile)", ev)
	} else {
		s.expect(false, "reading agreement.signed/%s: %v", short(traffic.AgreementID), err)
	}
	if ag, ev, err := d.standardPeer(ctx, dept, Firm, keys[Firm], "offer-traffic-open", "ds-traffic-2026"); err != nil {
		s.expect(false, "a standard DSP connector negotiates: %v", err)
	} else {
		evl, err := d.evidence(ctx, sp, ag)
		s.expect(err == nil && evl == policy.EvidenceAcknowledged, "a standard DSP connector (only DSP terms, %s's second connector) negotiated agreement %s: the ledger records its evidence as %s — its verification message %s", Firm, short(ag), evl, ev)
	}

	operation := d.negotiate(ctx, s, firm, dept, "offer-ridership-operation", "route-planning-service", "")
	if s.expect(operation.State == "FINALIZED", "authorised operation of bus ridership → %s", operation.State) {
		d.Facts.Agreements["operation"] = operation.AgreementID
	}
	d.push(ctx, s, firm, operation.AgreementID, ridershipCSV)

	// 4. Refusals.
	s.step("4", "Refusals, each with its reason, on both sides and on the ledger")
	mkt := d.negotiate(ctx, s, firm, dept, "offer-traffic-research", "marketing", "")
	s.expect(mkt.State == "TERMINATED" && mkt.Reason != "", "purpose marketing refused: %s", mkt.Reason)

	d.pull(ctx, s, firm, traffic.AgreementID, "traffic-2.csv", trafficCSV, false)
	x3 := d.transfer(ctx, firm, traffic.AgreementID)
	s.expect(x3 != nil && x3.State == "TERMINATED", "third transfer under a 2-use agreement refused: %s", reasonOf(x3))

	noBasis := d.negotiate(ctx, s, sgco, dept, "offer-ridership-research", "research", "")
	s.expect(noBasis.State == "TERMINATED" && noBasis.Rule == policy.RuleLegalBasis, "%s asks for important data without a legal basis: %s (rule %s)", SGCo, noBasis.Reason, noBasis.Rule)
	withBasis := d.negotiate(ctx, s, sgco, dept, "offer-ridership-research", "research", legalBasis)
	if s.expect(withBasis.State == "FINALIZED", "with legal basis %q the same request is agreed", legalBasis) {
		d.Facts.Agreements["crossborder"] = withBasis.AgreementID
		d.pull(ctx, s, sgco, withBasis.AgreementID, "ridership-sg.csv", ridershipCSV, false)
	}

	clinic, ok := seen["offer-clinic-research"]
	if s.expect(ok, "%s read the clinic-visits offer from the catalogue", Firm) {
		rules.NegativeList = append(rules.NegativeList, policy.NegativeEntry{Category: negativeListed, Reason: "health records may not circulate in this space"})
		nr, err := sp.auth.SetRules(rules)
		if err != nil {
			return err
		}
		if _, err := sp.auth.Submit(ctx, sp.ledger, nr); err != nil {
			return fmt.Errorf("rules update: %w", err)
		}
		s.say("the authority adds category %q to the negative list", negativeListed)
		neg := d.negotiateOffer(ctx, firm, dept, "ds-clinic-visits", clinic, "research", "")
		s.expect(neg.State == "TERMINATED" && neg.Rule == policy.RuleNegativeList, "%s asks for the negative-listed clinic visits: %s (rule %s)", Firm, neg.Reason, neg.Rule)
	}

	if _, err := dept.Revoke(ctx, operation.AgreementID, "operator licence withdrawn by the data authority"); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	s.say("%s revokes the authorised-operation agreement %s", Dept, short(operation.AgreementID))
	xr := d.transfer(ctx, firm, operation.AgreementID)
	s.expect(xr != nil && xr.State == "TERMINATED", "transfer under the revoked agreement refused: %s", reasonOf(xr))

	// 5. Use, duties, objections.
	s.step("5", "The enterprise logs its use and fulfils its deletion duty; an objection is filed and resolved")
	duties, err := firm.api.Duties(ctx, traffic.AgreementID)
	if err != nil {
		return err
	}
	for _, du := range duties {
		if du.Action != "delete" {
			continue
		}
		os.Remove(filepath.Join(firm.dir, "traffic.csv"))
		os.Remove(filepath.Join(firm.dir, "traffic-2.csv"))
		_, err := firm.api.FulfilDuty(ctx, traffic.AgreementID, du.DutyID)
		s.expect(err == nil, "deletion duty %s (due %s) fulfilled: the pulled copies are deleted", du.DutyID, du.Due)
	}
	if err := d.objection(ctx, s, keys); err != nil {
		return err
	}
	d.waitOutboxes(ctx, s)

	// 6. Computation where the data is.
	s.step("6", "The enterprise computes on the core population grid where it is: aggregates leave, raw rows do not (数据可用不可见)")
	if err := d.compute(ctx, s, dept, firm); err != nil {
		return err
	}
	d.waitOutboxes(ctx, s)

	// 7. Auditor and regulator.
	s.step("7", "The auditor verifies the whole ledger; the regulator reads the flow report")
	return d.auditAndReport(ctx, s)
}

// negotiate starts a negotiation for an offer in the provider's catalogue and waits for its end.
func (d *Demo) negotiate(ctx context.Context, s *story, cons, prov *node, offer, purpose, basis string) *api.Negotiation {
	neg, err := cons.api.StartNegotiation(ctx, api.StartNegotiation{ProviderURL: prov.url, Provider: prov.id, Offer: offer, Purpose: purpose, LegalBasis: basis})
	if err != nil {
		return &api.Negotiation{State: "ERROR", Reason: err.Error()}
	}
	return d.wait(ctx, cons, neg.ID)
}

// negotiateOffer negotiates an offer read earlier from the provider's catalogue.
func (d *Demo) negotiateOffer(ctx context.Context, cons, prov *node, dataset string, offer dsp.Policy, purpose, basis string) *api.Negotiation {
	neg, err := cons.Negotiate(ctx, connector.NegotiateOffer{ProviderURL: prov.url, Provider: prov.id, Dataset: dataset, Offer: offer, Purpose: purpose, LegalBasis: basis})
	if err != nil {
		return &api.Negotiation{State: "ERROR", Reason: err.Error()}
	}
	return d.wait(ctx, cons, neg.ID)
}

// wait waits (at the node) until a negotiation is FINALIZED or TERMINATED.
func (d *Demo) wait(ctx context.Context, cons *node, id string) *api.Negotiation {
	neg, err := cons.api.Negotiation(ctx, id, 30*time.Second)
	if err != nil {
		return &api.Negotiation{ID: id, State: "ERROR", Reason: err.Error()}
	}
	return neg
}

// transfer requests a transfer and waits until it leaves REQUESTED.
func (d *Demo) transfer(ctx context.Context, cons *node, agreement string) *api.Transfer {
	x, err := cons.api.StartTransfer(ctx, api.StartTransfer{Agreement: agreement})
	if err != nil {
		return &api.Transfer{State: "ERROR", Reason: err.Error()}
	}
	x, err = cons.api.WaitTransfer(ctx, x.ID, api.UntilStarted, 30*time.Second)
	if err != nil {
		return &api.Transfer{State: "ERROR", Reason: err.Error()}
	}
	return x
}

// pull runs a transfer and pulls the data as an operator does (client.Pull):
// the access token and its proof of possession, the bytes checked against
// the hash registered on the ledger, the consumer's receipt recorded; then it
// completes the transfer.
func (d *Demo) pull(ctx context.Context, s *story, cons *node, agreement, file, want string, verbose bool) {
	x := d.transfer(ctx, cons, agreement)
	if !s.expect(x.State == "STARTED", "transfer %s started: %s", short(x.ID), reasonOf(x)) {
		return
	}
	if verbose {
		if x = d.suspendAndResume(ctx, s, cons, x); x == nil {
			return
		}
	}
	addr, err := x.Address()
	if err != nil {
		s.expect(false, "%v", err)
		return
	}
	out := filepath.Join(cons.dir, file)
	res, err := cons.api.Pull(ctx, x.ID, out, cons.key, nodeclient.PullOptions{})
	if !s.expect(err == nil, "pulled %s with a DPoP-bound access token", addr.Endpoint) {
		s.say("   %v", err)
		return
	}
	got, _ := os.ReadFile(out)
	s.expect(string(got) == want && res.HashSource == "ledger" && res.Expected == res.Sum,
		"%d bytes, %s %s… matches the hash registered on the ledger", res.Size, hashLabel(res.Algorithm), res.Sum[:16])
	d.Facts.Pulled[[2]string{cons.id, x.DatasetID}] += res.Size
	if verbose {
		s.say("the access token alone is useless: a request without its proof of possession is refused")
		tok := addr.Property("authorization")
		_, err := pull.Download(ctx, addr.Endpoint, tok, func(string, string) (string, error) { return "", nil }, out+".stolen")
		var de *dataplane.Error
		s.expect(errors.As(err, &de), "stolen token refused: %v", err)
		os.Remove(out + ".stolen")
	}
	if _, err := cons.api.Complete(ctx, x.ID); err != nil {
		s.expect(false, "complete transfer %s: %v", x.ID, err)
	}
}

// suspendAndResume has the provider suspend a started transfer, shows that
// the consumer cannot resume it, and resumes it from the provider: the
// agreement is evaluated again and a fresh token issued, without a new use.
// It returns the consumer's transfer, STARTED again, or nil.
func (d *Demo) suspendAndResume(ctx context.Context, s *story, cons *node, x *api.Transfer) *api.Transfer {
	prov := d.nodes[Dept]
	before := x.DataAddress
	if _, err := prov.api.Suspend(ctx, x.PeerPID, "sensor calibration audit"); err != nil {
		s.expect(false, "%s suspends transfer %s: %v", Dept, short(x.PeerPID), err)
		return nil
	}
	s.say("%s suspends the transfer for a sensor calibration audit", Dept)
	y, err := cons.api.WaitTransfer(ctx, x.ID, api.UntilDone, 30*time.Second)
	if !s.expect(err == nil && y.State == "SUSPENDED", "%s sees it SUSPENDED: %s", Firm, reasonOf(y)) {
		return nil
	}
	_, err = cons.api.Resume(ctx, x.ID)
	s.expect(err != nil && strings.Contains(err.Error(), "transfer.suspended-by-provider"), "%s cannot resume what %s suspended", Firm, Dept)
	if _, err := prov.api.Resume(ctx, x.PeerPID); err != nil {
		s.expect(false, "%s resumes it: %v", Dept, err)
		return nil
	}
	y, err = cons.api.WaitTransfer(ctx, x.ID, api.UntilResumed, 30*time.Second)
	if !s.expect(err == nil && y.State == "STARTED" && string(y.DataAddress) != string(before),
		"%s resumes it: the agreement evaluated again, a fresh access token issued, no new use counted", Dept) {
		return nil
	}
	return y
}

// push has the provider push the dataset to the consumer's receiver, with an
// access token the consumer issued bound to the provider's key; the receiver
// checks the bytes against the hash registered on the ledger.
func (d *Demo) push(ctx context.Context, s *story, cons *node, agreement, want string) {
	x, err := cons.api.StartTransfer(ctx, api.StartTransfer{Agreement: agreement, Format: "HttpData-PUSH"})
	if !s.expect(err == nil, "push transfer requested") {
		s.say("   %v", err)
		return
	}
	x, err = cons.api.WaitTransfer(ctx, x.ID, api.UntilDone, 30*time.Second)
	if !s.expect(err == nil && x.State == "COMPLETED", "the provider pushed the data to %s's receiver: %s", cons.id, reasonOf(x)) {
		return
	}
	got, err := os.ReadFile(cons.ReceivedPath(x.ID))
	sum := digest.Of(d.hashAlg(), got)
	if s.expect(err == nil && string(got) == want, "%d bytes received, %s %s…, checked by the receiver against the hash registered on the ledger", len(got), hashLabel(d.hashAlg()), sum.Hex()[:16]) {
		d.Facts.Pulled[[2]string{cons.id, x.DatasetID}] += int64(len(got))
	}
}

// objection files an objection on a dataset (by the Singapore firm) and has
// the dataset's owner resolve it; the domestic firm files one that stays open.
func (d *Demo) objection(ctx context.Context, s *story, keys map[string]*identity.Key) error {
	sp := d.space
	now := time.Now().Format(time.RFC3339Nano)
	write := func(writer string, r ledger.Record) error {
		r.Schema, r.Time, r.Actor = ledger.SchemaVersion, now, writer
		b, err := ledger.NewBatch(sp.auth.Genesis().Space, writer, keys[writer], []ledger.Record{r})
		if err != nil {
			return err
		}
		_, err = sp.ledger.Append(ctx, b)
		return err
	}
	err := write(SGCo, ledger.Record{ID: "objection.filed/obj-ridership-units", Kind: ledger.KindObjectionFiled, Counterparty: Dept,
		Dataset: "ds-bus-ridership", Objection: &ledger.Objection{ID: "obj-ridership-units", Subject: "ridership counted per trip, not per passenger"}})
	if !s.expect(err == nil, "%s files objection obj-ridership-units on ds-bus-ridership", SGCo) {
		s.say("   %v", err)
	}
	err = write(Dept, ledger.Record{ID: "objection.resolved/obj-ridership-units", Kind: ledger.KindObjectionResolved, Counterparty: SGCo,
		Dataset: "ds-bus-ridership", Objection: &ledger.Objection{ID: "obj-ridership-units", Resolution: "unit documented in the dataset's description"}})
	if !s.expect(err == nil, "%s, the dataset's owner, resolves it", Dept) {
		s.say("   %v", err)
	}
	err = write(Firm, ledger.Record{ID: "objection.filed/obj-traffic-sensors", Kind: ledger.KindObjectionFiled, Counterparty: Dept,
		Dataset: "ds-traffic-2026", Objection: &ledger.Objection{ID: "obj-traffic-sensors", Subject: "duplicate sensor rows on G6"}})
	if !s.expect(err == nil, "%s files objection obj-traffic-sensors on ds-traffic-2026 (left open)", Firm) {
		s.say("   %v", err)
	}
	err = write(Firm, ledger.Record{ID: "objection.resolved/obj-ridership-units-again", Kind: ledger.KindObjectionResolved, Counterparty: Dept,
		Dataset: "ds-bus-ridership", Objection: &ledger.Objection{ID: "obj-ridership-units"}})
	var re *ledger.RuleError
	s.expect(errors.As(err, &re), "resolving it twice (and by a party that is not the owner) is refused: %v", err)
	return nil
}

// waitOutboxes waits until every connector's outbox has drained to the ledger.
func (d *Demo) waitOutboxes(ctx context.Context, s *story) {
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range []string{Dept, Firm, SGCo} {
		n := d.nodes[id]
		for {
			st, err := n.api.Outbox(ctx)
			if err == nil && len(st.Pending) == 0 {
				for _, r := range st.Refused {
					s.expect(false, "the ledger refused %s's record %s: %s", id, r.RecordID, r.Error)
				}
				break
			}
			if time.Now().After(deadline) {
				s.expect(false, "outbox of %s drained (%+v, %v)", id, st, err)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func (d *Demo) auditAndReport(ctx context.Context, s *story) error {
	sp := d.space
	auditor, atok, err := sp.roleClient("auditor", "auditor-cac-bj")
	if err != nil {
		return err
	}
	regulator, rtok, err := sp.roleClient("regulator", "regulator-ndrc")
	if err != nil {
		return err
	}
	d.Facts.AuditorTok = filepath.Join(sp.dir, "auditor.token")
	d.Facts.RegulatorTok = filepath.Join(sp.dir, "regulator.token")
	os.WriteFile(d.Facts.AuditorTok, []byte(atok+"\n"), 0o600)
	os.WriteFile(d.Facts.RegulatorTok, []byte(rtok+"\n"), 0o600)

	_, err = sp.ledger.Query(ctx, ledger.Query{})
	s.expect(err != nil, "reading the ledger without a role token is refused: %v", err)

	vkey := sp.store.VerifierKey()
	rep, err := verify.Ledger(ctx, auditor, vkey)
	if s.expect(err == nil, "auditor re-verified %d records in %d batches and %d checkpoints: signatures, rulebook replay from genesis, Merkle tree", rep.Records, rep.Batches, rep.Checkpoints) {
		d.Facts.Verified = rep
	} else {
		s.say("   %v", err)
	}
	if sp.fabric != nil {
		rep, err := ledgerhttp.VerifyFabric(ctx, sp.fabric)
		if !s.expect(err == nil, "the channel's blocks verified: hash chain, orderers' signatures, validation flags against every peer's commit hash, the last block against every orderer's, endorsements, and the same checks over the valid transactions (%d records in %d batches)", rep.Records, rep.Batches) {
			s.say("   %v", err)
		}
	}
	if id := d.Facts.Agreements["traffic"]; id != "" {
		p, err := auditor.Record(ctx, "agreement.signed/"+id)
		if err == nil {
			v, _ := verify.NoteVerifier(vkey)
			_, err = verify.Proven(p, v)
		}
		s.expect(err == nil, "agreement.signed/%s: inclusion proof verified against the signed checkpoint", short(id))
	}

	recs, err := audit.Records(ctx, regulator, ledger.Query{})
	if err != nil {
		return fmt.Errorf("regulator query: %w", err)
	}
	report := audit.BuildReport(recs, audit.Window{Now: time.Now()})
	d.Facts.Report = report
	fmt.Fprintln(s.out)
	audit.WriteReportText(indent{s.out}, report)
	fmt.Fprintln(s.out)

	crossBorder := false
	for _, f := range report.CrossBorder {
		crossBorder = crossBorder || f.Consumer == SGCo && f.Classification == policy.Important && f.LegalBasis == legalBasis
	}
	s.expect(crossBorder, "the report shows important data to %s across the border with its legal basis", SGCo)
	rules := map[string]int{}
	for _, dn := range report.Denials {
		rules[dn.Rule] = dn.Count
	}
	s.expect(rules[policy.RuleNegativeList] >= 1 && rules[policy.RuleLegalBasis] >= 1, "denials by rule include the negative list and the cross-border legal basis")
	s.expect(rules[rulebook.RuleComputeOnly] == 1, "denials by rule include the transfer refused under the compute-only agreement (%s)", rulebook.RuleComputeOnly)
	s.expect(len(report.Revoked) == 1 && len(report.ObjectionsOpen) == 1, "one agreement revoked, one objection open")
	metered := false
	for _, c := range report.Compute {
		metered = metered || c.Consumer == Firm && c.Dataset == gridID && c.Runs == 1 && c.Denied == 2 && c.BytesOut > 0
	}
	if !s.expect(metered, "the report meters the computations on the core grid: %s ran 1 program under the compute-only agreement, 2 refused, the bytes that left", Firm) {
		s.say("compute in the report: %+v", report.Compute)
	}
	return nil
}

// indent prefixes the report's lines so it sits inside the story.
type indent struct{ w io.Writer }

func (i indent) Write(p []byte) (int, error) {
	s := strings.ReplaceAll(string(p), "\n", "\n   ")
	_, err := io.WriteString(i.w, s)
	return len(p), err
}

// mixedSuite shows the ledger refusing a participant key of the other crypto
// suite (an Ed25519 key in a gm space, an SM2 key in an intl one), naming
// the rule, though the authority signed the batch.
func (d *Demo) mixedSuite(ctx context.Context, s *story) error {
	sp := d.space
	cs := sp.auth.Genesis().CryptoSuite()
	other := suite.GM
	if cs == suite.GM {
		other = suite.Intl
	}
	own, err := identity.Generate(cs, "")
	if err != nil {
		return err
	}
	foreign, err := identity.Generate(other, "")
	if err != nil {
		return err
	}
	r, err := sp.auth.Register(authority.Registration{ID: "mixed-suite-co", Name: "Mixed Suite Co.", Key: own.JWK(), Region: "CN-BJ",
		Industry: "transport", OrgType: "enterprise"})
	if err != nil {
		return err
	}
	r.Participant.Keys = []identity.JWK{foreign.JWK()} // after the authority's own check
	_, err = sp.auth.Submit(ctx, sp.ledger, r)
	s.expect(err != nil && strings.Contains(err.Error(), suite.RuleKey), "a participant key of the %s suite (%s) in this %s space is refused by the ledger: %v", other, foreign.JWK().Algorithm(), cs, err)
	return nil
}

// hashAlg is the space's content-hash algorithm: sha256, or sm3 in a gm space.
func (d *Demo) hashAlg() string { return d.space.auth.Genesis().CryptoSuite().HashName() }

// hashLabel names a content-hash algorithm for the story.
func hashLabel(alg string) string {
	if alg == digest.SM3 {
		return "SM3"
	}
	return "SHA-256"
}

func short(id string) string {
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

func lastReason(n *api.Negotiation) string {
	if n.Reason != "" {
		return n.Reason
	}
	if len(n.History) > 0 {
		return n.History[len(n.History)-1].Reason
	}
	return ""
}

func reasonOf(x *api.Transfer) string {
	if x == nil {
		return "no transfer"
	}
	if x.Reason != "" {
		return x.Reason
	}
	if len(x.History) > 0 {
		return x.History[len(x.History)-1].Reason
	}
	return string(x.State)
}

// researchPolicy is the department's research offer: purpose research, at most
// maxUses uses, until a date, delete within 30 days.
func researchPolicy(id string, maxUses int, until time.Time) []byte {
	return []byte(fmt.Sprintf(`{
  "@context": "https://w3id.org/dspace/2025/1/context.jsonld",
  "@id": %q,
  "@type": "Offer",
  "permission": [{
    "action": "use",
    "constraint": [
      {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
      {"leftOperand": "count", "operator": "lteq", "rightOperand": %d},
      {"leftOperand": "dateTime", "operator": "lt", "rightOperand": %q}
    ],
    "duty": [{"action": "delete", "constraint": [{"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": "P30D"}]}]
  }]
}`, id, maxUses, until.Format(time.RFC3339)))
}

const trafficCSV = "road,hour,vehicles\nG6,08,1520\nG6,09,1710\nG7,08,980\nChang'an Ave,08,2210\n"

const ridershipCSV = "line,stop,boardings\n1,Tiananmen East,5210\n52,Xidan,3344\n"

// evidence reads an agreement's evidence level from the ledger, as the
// auditor.
func (d *Demo) evidence(ctx context.Context, sp *space, agreement string) (string, error) {
	aud, _, err := sp.roleClient("auditor", "auditor-cac-bj")
	if err != nil {
		return "", err
	}
	p, err := aud.Record(ctx, "agreement.signed/"+agreement)
	if err != nil {
		return "", err
	}
	return p.Record.Terms.EvidenceLevel(), nil
}

// standardPeer negotiates offer of prov as a plain DSP consumer would — only
// DSP terms, no tdsc profile — under participant id's identity: it serves a
// callback endpoint, sends the contract request, verifies the agreement with
// a plain ContractAgreementVerificationMessage and waits for FINALIZED. It
// returns the agreement id and the hash of its verification message.
func (d *Demo) standardPeer(ctx context.Context, prov *node, id string, key *identity.Key, offer, dataset string) (string, string, error) {
	iss, err := identity.NewIssuer(id, key)
	if err != nil {
		return "", "", err
	}
	got := make(chan map[string]any, 4)
	ln, err := listen()
	if err != nil {
		return "", "", err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&m)
		select {
		case got <- m:
		default:
		}
		w.WriteHeader(http.StatusOK)
	})}
	go srv.Serve(ln)
	defer srv.Close()
	post := func(url string, msg map[string]any) ([]byte, error) {
		tok, err := iss.ProtocolToken(prov.id)
		if err != nil {
			return nil, err
		}
		b, _ := json.Marshal(msg)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode/100 != 2 {
			return nil, fmt.Errorf("%s: %d %s", url, resp.StatusCode, out)
		}
		return out, nil
	}
	next := func(what string) (map[string]any, error) {
		select {
		case m := <-got:
			if m["@type"] != what {
				return nil, fmt.Errorf("expected %s, got %v", what, m)
			}
			return m, nil
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("no %s from %s", what, prov.id)
		}
	}
	ctxDSP := []any{dsp.Context}
	if _, err := post(prov.url+"/negotiations/request", map[string]any{"@context": ctxDSP, "@type": "ContractRequestMessage",
		"consumerPid": "urn:standard-peer:1", "callbackAddress": "http://" + ln.Addr().String() + "/cb",
		"offer": map[string]any{"@id": offer, "@type": "Offer", "target": dataset, "permission": []any{map[string]any{"action": "use"}}}}); err != nil {
		return "", "", err
	}
	ag, err := next("ContractAgreementMessage")
	if err != nil {
		return "", "", err
	}
	pid, _ := ag["providerPid"].(string)
	agreement, _ := ag["agreement"].(map[string]any)
	agID, _ := agreement["@id"].(string)
	verification := map[string]any{"@context": ctxDSP, "@type": "ContractAgreementVerificationMessage", "providerPid": pid, "consumerPid": "urn:standard-peer:1"}
	if _, err := post(prov.url+"/negotiations/"+pid+"/agreement/verification", verification); err != nil {
		return "", "", err
	}
	if _, err := next("ContractNegotiationEventMessage"); err != nil {
		return "", "", err
	}
	b, _ := json.Marshal(verification)
	sum := digest.Of(d.hashAlg(), b)
	return agID, sum.String()[:len(sum.Algorithm())+17] + "…", nil
}
