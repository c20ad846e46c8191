package dsptck_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/client"
	"github.com/tdsc/tdsc/connector/dsp"
	"github.com/tdsc/tdsc/connector/dsp/dspschema"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/identity/dcp"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/embedded"
	"github.com/tdsc/tdsc/ledger/ledgertest"
	"github.com/tdsc/tdsc/suite"
)

// didBound is the cache bound of the DID-only test's provider: its ledger
// registry's TTL and its DCP verifier's cache TTL (presentations, status
// lists, DID documents). docs/security.md: a suspension refuses the DID
// peer's next request within this bound (30 s by default).
const didBound = 2 * time.Second

// didPeer is a participant that speaks DSP and DCP only: no tdsc token, no
// tdsc term. It is identified by its did:web, publishes its DID document and
// Credential Service over HTTPS, holds the membership credential the
// space's authority issued it, and pulls with DPoP signed by its DID key.
type didPeer struct {
	t      *testing.T
	did    string
	key    *identity.Key
	node   *dcp.Node
	cb     string // its DSP callback base URL
	prefix string
	in     chan inMsg
	hc     *http.Client
	errs   chan string
}

// TestDIDOnlyPeer: a DID-only participant (DCP 1.0 self-issued ID tokens and
// its Credential Service's presentations, nothing of tdsc's) fetches the
// catalogue of a tdsc node, negotiates an agreement and pulls the dataset
// over HTTPS; the ledger names it by its DID in the agreement and transfer
// records; the tdsc node calls it back with DCP tokens, which the peer
// verifies against the node's own membership credential. Suspending the
// participant at the authority (the ledger's participant.updated, and the
// credential revoked through the status list) refuses its next request,
// with the reason, within didBound.
func TestDIDOnlyPeer(t *testing.T) {
	for _, cs := range []*suite.Suite{suite.Intl, suite.GM} {
		t.Run(cs.Name(), func(t *testing.T) { testDIDOnlyPeer(t, cs) })
	}
}

func testDIDOnlyPeer(t *testing.T, cs *suite.Suite) {
	ctx := context.Background()
	w := newDIDWorldIn(t, cs)
	sp, led, issuer, cut, cutURL, cutDID, peer, peerP, appendRecs := w.sp, w.led, w.issuer, w.cut, w.cutURL, w.cutDID, w.peer, w.peerP, w.append

	// A dataset and its offer at the tdsc node.
	const data = "port,month,teu\nYangshan,2026-10,2150000\n"
	sum := cs.Sum([]byte(data))
	src := filepath.Join(t.TempDir(), "teu.csv")
	if err := os.WriteFile(src, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	ds, err := cut.AddDataset(ctx, connector.NewDataset{ID: "port-teu", Title: "Container throughput", Classification: "general",
		Category: "transport", ContentHash: cs.HashName() + ":" + hex.EncodeToString(sum), Source: "file:" + src})
	if err != nil {
		t.Fatal(err)
	}
	offer, err := cut.AddOffer(ctx, connector.NewOffer{ID: "offer-port-teu", Dataset: ds.ID, Policy: json.RawMessage(`{
		"@context": "https://w3id.org/dspace/2025/1/context.jsonld", "@id": "offer-port-teu", "@type": "Offer",
		"permission": [{"action": "use"}]}`)})
	if err != nil {
		t.Fatal(err)
	}

	if msg := run(func() {
		// The node advertises both schemes; the DCP entry names its DID.
		st, body := peer.call(http.MethodGet, cutURL+dsp.VersionPath, nil, "")
		if st != 200 || !strings.Contains(string(body), `"protocol":"DCP"`) || !strings.Contains(string(body), cutDID) ||
			!strings.Contains(string(body), dsp.ProfileDCPJWT) {
			fail("dspace-version: %d %s", st, body)
		}
		if err := dspschema.Validate(body); err != nil {
			fail("dspace-version with the DCP entry: %v", err)
		}
		// Its DID document is served where did:web says.
		st, body = peer.call(http.MethodGet, cutURL+"/.well-known/did.json", nil, "")
		if st != 200 || !strings.Contains(string(body), cutDID) {
			fail("the node's DID document: %d %s", st, body)
		}

		st, body = peer.send(cutDID, cutURL+"/catalog/request", msg(dsp.TypeCatalogRequestMessage))
		ok2xx("CatalogRequestMessage", st, body)
		if !strings.Contains(string(body), offer.ID) {
			fail("the catalogue lacks the offer %s: %s", offer.ID, body)
		}

		// Audience confusion: a DCP token addressed to the node's tdsc id
		// (what a tdsc protocol token names) is refused; so is a replay.
		wrongAud, err := peer.node.Token(cutID)
		if err != nil {
			fail("token: %v", err)
		}
		catalogReq, _ := json.Marshal(msg(dsp.TypeCatalogRequestMessage))
		if st, body := peer.call(http.MethodPost, cutURL+"/catalog/request", catalogReq, wrongAud); st != 401 || !strings.Contains(string(body), "aud") {
			fail("a DCP token for the tdsc id: %d %s, want 401 naming aud", st, body)
		}
		once, err := peer.node.Token(cutDID)
		if err != nil {
			fail("token: %v", err)
		}
		if st, body := peer.call(http.MethodPost, cutURL+"/catalog/request", catalogReq, once); st != 200 {
			fail("first use of a token: %d %s", st, body)
		}
		if st, body := peer.call(http.MethodPost, cutURL+"/catalog/request", catalogReq, once); st != 401 || !strings.Contains(string(body), "jti") {
			fail("a replayed DCP token: %d %s, want 401 naming jti", st, body)
		}

		// Negotiation: the standard consumer's sequence.
		cpid := "urn:did-peer:neg:1"
		st, body = peer.send(cutDID, cutURL+"/negotiations/request", msg(dsp.TypeContractRequestMessage, "consumerPid", cpid,
			"offer", map[string]any{"@id": offer.ID, "@type": "Offer", "target": ds.ID, "permission": []any{map[string]any{"action": "use"}}},
			"callbackAddress", peer.cb))
		ok2xx("ContractRequestMessage", st, body)
		ppid := field(body, "providerPid")
		m := peer.expect("/negotiations/"+cpid+"/agreement", dsp.TypeContractAgreementMessage)
		var agr struct {
			Agreement struct {
				ID       string `json:"@id"`
				Assignee string `json:"assignee"`
			} `json:"agreement"`
		}
		if err := json.Unmarshal(m.body, &agr); err != nil || agr.Agreement.ID == "" {
			fail("agreement message: %v %s", err, m.body)
		}
		if agr.Agreement.Assignee != peer.did {
			fail("the agreement's assignee is %q, want the peer's DID %q", agr.Agreement.Assignee, peer.did)
		}
		st, body = peer.send(cutDID, cutURL+"/negotiations/"+ppid+"/agreement/verification",
			msg(dsp.TypeContractAgreementVerificationMessage, "providerPid", ppid, "consumerPid", cpid))
		ok2xx("ContractAgreementVerificationMessage", st, body)
		m = peer.expect("/negotiations/"+cpid+"/events", dsp.TypeContractNegotiationEventMessage)
		if field(m.body, "eventType") != "FINALIZED" {
			fail("want FINALIZED, got %s", m.body)
		}

		// Transfer, then the pull with DPoP signed by the DID key.
		tcpid := "urn:did-peer:tp:1"
		st, body = peer.send(cutDID, cutURL+"/transfers/request", msg(dsp.TypeTransferRequestMessage, "consumerPid", tcpid,
			"agreementId", agr.Agreement.ID, "format", "HttpData-PULL", "callbackAddress", peer.cb))
		ok2xx("TransferRequestMessage", st, body)
		tppid := field(body, "providerPid")
		m = peer.expect("/transfers/"+tcpid+"/start", dsp.TypeTransferStartMessage)
		var start struct {
			DataAddress struct {
				Endpoint   string `json:"endpoint"`
				Properties []struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"endpointProperties"`
			} `json:"dataAddress"`
		}
		if err := json.Unmarshal(m.body, &start); err != nil || start.DataAddress.Endpoint == "" {
			fail("start message without a data address: %v %s", err, m.body)
		}
		var tok string
		for _, p := range start.DataAddress.Properties {
			if p.Name == "authorization" {
				tok = p.Value
			}
		}
		got := peer.pull(start.DataAddress.Endpoint, tok)
		if got != data {
			fail("pulled %q, want %q", got, data)
		}

		// The ledger names the peer by its DID.
		for _, id := range []string{"agreement.signed/" + agr.Agreement.ID, "transfer.authorized/" + tppid} {
			var r *ledger.Record
			eventually(id+" on the ledger", func() (bool, string) {
				p, err := led.Record(ctx, id)
				if err != nil {
					return false, err.Error()
				}
				r = &p.Record
				return true, ""
			})
			if r.Counterparty != peer.did || r.Actor != cutID {
				fail("%s: actor %q counterparty %q, want %s and the peer's DID %s", id, r.Actor, r.Counterparty, cutID, peer.did)
			}
		}
		eventually("the provider's transfer.completed", func() (bool, string) {
			_, err := led.Record(ctx, "transfer.completed/"+tppid+"/"+cutID)
			return err == nil, fmt.Sprint(err)
		})

		// Suspension at the authority: the ledger first, then the status list.
		sus := sp.Record(ledger.KindParticipantUpdated, sp.Authority())
		s := peerP
		s.Status = identity.StatusSuspended
		sus.Participant = &s
		appendRecs(sus)
		if revoked, err := issuer.Reconcile(ctx, led); err != nil || len(revoked) != 1 {
			fail("reconcile: revoked %v, %v; want the peer's credential", revoked, err)
		}
		suspended := time.Now()
		var refusal string
		for {
			st, body := peer.send(cutDID, cutURL+"/catalog/request", msg(dsp.TypeCatalogRequestMessage))
			if st/100 == 4 {
				refusal = string(body)
				break
			}
			if time.Since(suspended) > didBound+time.Second {
				fail("the suspended DID peer still served %s after the bound %v", time.Since(suspended), didBound)
			}
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(refusal, "suspended") && !strings.Contains(refusal, "revoked") {
			fail("the refusal does not say why: %s", refusal)
		}
		t.Logf("suspension refused after %v (bound %v): %s", time.Since(suspended).Round(time.Millisecond), didBound, refusal)
	}); msg != "" {
		t.Fatal(msg)
	}
	select {
	case e := <-peer.errs:
		t.Fatalf("the DID peer refused a call of the tdsc node: %s", e)
	default:
	}
}

// didWorld is a space with a tdsc node (the CUT, speaking both schemes) and
// a DID-only peer, both registered on the ledger and holding the
// authority's membership credentials.
type didWorld struct {
	t       *testing.T
	sp      *ledgertest.Space
	led     *embedded.Store
	hub     *httptest.Server
	hubMux  *http.ServeMux
	hc      *http.Client
	authDID string
	issuer  *dcp.CredentialIssuer
	// issuerService is the authority's DCP Issuer Service, named in its
	// DID document.
	issuerService *dcp.IssuerService
	cut           *connector.Node
	cutURL        string
	cutDID        string
	peer          *didPeer
	peerP         identity.Participant
}

// didParticipant registers a participant by its DID (the fields of p
// besides id, DID, keys and status), with a key of suite cs, at the address
// of an HTTPS server not yet started: the node the test serves there.
func (w *didWorld) didParticipant(cs *suite.Suite, p identity.Participant) (*httptest.Server, string, *identity.Key, identity.Participant) {
	w.t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	url := "https://" + srv.Listener.Addr().String()
	did, err := dcp.WebDID(url)
	if err != nil {
		w.t.Fatal(err)
	}
	key, err := identity.Generate(cs, "")
	if err != nil {
		w.t.Fatal(err)
	}
	p.ID, p.DID, p.Keys, p.Status = did, did, []identity.JWK{key.JWK()}, identity.StatusActive
	reg := w.sp.Record(ledger.KindParticipantRegistered, w.sp.Authority())
	reg.Participant = &p
	w.append(reg)
	return srv, url, key, p
}

// append writes records signed by the authority.
func (w *didWorld) append(recs ...ledger.Record) {
	w.t.Helper()
	b, err := w.sp.Batch(w.sp.Authority(), recs...)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.led.Append(context.Background(), b); err != nil {
		w.t.Fatal(err)
	}
}

func newDIDWorld(t *testing.T) *didWorld { return newDIDWorldIn(t, suite.Intl) }

// newDIDWorldIn is newDIDWorld in crypto suite cs: every key, the ledger's
// and the DCP tokens' and credentials' signatures are of that suite.
func newDIDWorldIn(t *testing.T, cs *suite.Suite) *didWorld {
	ctx := context.Background()
	sp, err := ledgertest.NewSuiteSpace(cs)
	if err != nil {
		t.Fatal(err)
	}
	led, err := embedded.Open(ctx, t.TempDir(), sp.Genesis, embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { led.Close(context.Background()) })
	w := &didWorld{t: t, sp: sp, led: led}
	appendRecs := w.append

	// One loopback HTTPS server hosts the authority's DID document and
	// status list and the DID peer; the tdsc node has its own. httptest's
	// certificate plays the space CA for both.
	hubMux := http.NewServeMux()
	hub := httptest.NewTLSServer(hubMux)
	t.Cleanup(hub.Close)
	hc := hub.Client()
	hc.Timeout = 10 * time.Second

	authDID, err := dcp.WebDID(hub.URL + "/authority")
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := dcp.NewCredentialIssuer(dcp.IssuerConfig{DID: authDID, Key: sp.AuthorityKey, Space: sp.Genesis.Space,
		StatusURL: hub.URL + "/authority" + dcp.StatusPath, StatusTTL: time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The authority's Issuer Service: the ledger registry decides.
	res, err := dcp.NewResolver(dcp.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	authRegistry := identity.NewRegistry(led, identity.WithTTL(time.Nanosecond),
		identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	svc, err := dcp.NewIssuerService(dcp.IssuerServiceConfig{DID: authDID, Key: sp.AuthorityKey, Issuer: issuer, Ledger: authRegistry,
		Endpoint: hub.URL + "/authority/issuance", Resolver: res, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close(context.Background()) })
	authDoc, err := dcp.NewDocument(authDID, sp.AuthorityKey.JWK(), svc.ServiceEntry())
	if err != nil {
		t.Fatal(err)
	}
	hubMux.Handle("/authority/did.json", dcp.DocumentHandler(authDoc))
	hubMux.Handle("/authority"+dcp.StatusPath, http.StripPrefix("/authority", issuer.Handler()))
	hubMux.Handle("/authority/issuance/", http.StripPrefix("/authority/issuance", svc.Handler()))

	// The tdsc node: registered by its tdsc id, with a DID beside it.
	cutSrv := httptest.NewUnstartedServer(nil)
	cutURL := "https://" + cutSrv.Listener.Addr().String()
	cutDID, err := dcp.WebDID(cutURL)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := sp.Participant(cutID, "CN-BJ")
	if err != nil {
		t.Fatal(err)
	}
	rec.Participant.DID = cutDID
	cutP := *rec.Participant
	appendRecs(rec)

	// The DID peer: registered by its DID, its key the one of its DID document.
	peer := newDIDPeer(t, hub, hubMux, hc, sp, authDID)
	reg := sp.Record(ledger.KindParticipantRegistered, sp.Authority())
	peerP := identity.Participant{ID: peer.did, DID: peer.did, Name: "Harbour analytics (DCP only)", Keys: []identity.JWK{peer.key.JWK()},
		Region: "CN-SH", Industry: "logistics", OrgType: "enterprise", Status: identity.StatusActive}
	reg.Participant = &peerP
	appendRecs(reg)

	// The authority issues each its membership credential (a signed view
	// of its registration); each files it in its Credential Service.
	cutCred, err := issuer.Issue(cutP)
	if err != nil {
		t.Fatal(err)
	}
	peerCred, err := issuer.Issue(peerP)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.node.Credentials.Store(peerCred.JWT); err != nil {
		t.Fatal(err)
	}

	cutDCP, err := dcp.NewNode(dcp.NodeConfig{DID: cutDID, Key: sp.Keys[cutID], DSP: cutURL, Space: sp.Genesis.Space,
		Trusted: []string{authDID}, HTTPClient: hc, CacheTTL: didBound})
	if err != nil {
		t.Fatal(err)
	}
	if err := cutDCP.Credentials.Store(cutCred.JWT); err != nil {
		t.Fatal(err)
	}
	registry := identity.NewRegistry(led, identity.WithTTL(didBound),
		identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) }))
	dir := t.TempDir()
	cfg := connector.Config{ParticipantID: cutID, Space: sp.Genesis.Space, Listen: strings.TrimPrefix(cutURL, "https://"), PublicURL: cutURL,
		DataDir: dir, DataSources: dir, RetryMin: 5 * time.Millisecond, RetryMax: 100 * time.Millisecond, StrictTimeout: 2 * time.Second, MaxAttempts: 1000}
	cut, err := connector.New(ctx, cfg, connector.WithKey(sp.Keys[cutID]), connector.WithLedger(led),
		connector.WithRegistry(registry), connector.WithRules(led), connector.WithRegisteredDatasets(led),
		connector.WithOperatorToken(opToken), connector.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		connector.WithHTTPClient(hc), connector.WithDCP(cutDCP))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cut.Close(ctx)
	})
	cutSrv.Config.Handler = cut.Handler()
	cutSrv.StartTLS()
	t.Cleanup(cutSrv.Close)

	w.hub, w.hubMux, w.hc, w.authDID, w.issuer, w.issuerService = hub, hubMux, hc, authDID, issuer, svc
	w.cut, w.cutURL, w.cutDID, w.peer, w.peerP = cut, cutURL, cutDID, peer, peerP
	return w
}

func newDIDPeer(t *testing.T, hub *httptest.Server, mux *http.ServeMux, hc *http.Client, sp *ledgertest.Space, authDID string) *didPeer {
	t.Helper()
	return newDIDPeerAt(t, hub, mux, hc, sp, authDID, "harbour")
}

// newDIDPeerAt makes a DID peer served under /name/ of hub.
func newDIDPeerAt(t *testing.T, hub *httptest.Server, mux *http.ServeMux, hc *http.Client, sp *ledgertest.Space, authDID, name string) *didPeer {
	t.Helper()
	space := sp.Genesis.Space
	key, err := identity.Generate(sp.Suite, "") // a key of the space's crypto suite
	if err != nil {
		t.Fatal(err)
	}
	did, err := dcp.WebDID(hub.URL + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	p := &didPeer{t: t, did: did, key: key, cb: hub.URL + "/" + name + "/dsp", in: make(chan inMsg, 16), hc: hc, errs: make(chan string, 16)}
	p.node, err = dcp.NewNode(dcp.NodeConfig{DID: did, Key: key, DSP: p.cb, Space: space, Trusted: []string{authDID}, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range p.node.Paths() {
		mux.Handle(path, p.node.Handler())
	}
	mux.HandleFunc("/"+name+"/dsp/", p.serve)
	p.prefix = "/" + name + "/dsp"
	return p
}

// serve is the peer's DSP callback endpoint: every call must carry a DCP
// token of a space member (the tdsc node's), and a valid DSP message.
func (p *didPeer) serve(w http.ResponseWriter, r *http.Request) {
	if _, err := p.node.Verifier.VerifyRequest(r); err != nil {
		p.errs <- fmt.Sprintf("%s %s: %v", r.Method, r.URL.Path, err)
		http.Error(w, err.Error(), dcp.StatusCode(err))
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	typ := typeOf(body)
	if err := check(body, typ); err != nil {
		p.errs <- fmt.Sprintf("%s from the tdsc node: %v", r.URL.Path, err)
	}
	if bytes.Contains(body, []byte(`"tdsc:`)) || bytes.Contains(body, []byte(dsp.TDSCNamespace)) {
		p.errs <- fmt.Sprintf("%s: the tdsc node sent tdsc terms to a standard peer: %s", r.URL.Path, body)
	}
	p.in <- inMsg{r.Method, strings.TrimPrefix(r.URL.Path, p.prefix), body, typ}
	w.WriteHeader(http.StatusOK)
}

func (p *didPeer) expect(path, typ string) inMsg {
	select {
	case m := <-p.in:
		if m.path != path || m.typ != typ {
			fail("expected %s at %s from the tdsc node, got %s at %s: %s", typ, path, m.typ, m.path, m.body)
		}
		return m
	case e := <-p.errs:
		fail("%s", e)
	case <-time.After(waitLong):
		fail("expected %s at %s from the tdsc node; nothing came in %s", typ, path, waitLong)
	}
	return inMsg{}
}

// send posts a DSP message with a DCP self-issued ID token for aud.
func (p *didPeer) send(aud, url string, m map[string]any) (int, []byte) {
	b, _ := json.Marshal(m)
	if err := check(b, m["@type"].(string)); err != nil {
		fail("the peer's own message: %v", err)
	}
	tok, err := p.node.Token(aud)
	if err != nil {
		fail("token: %v", err)
	}
	if dcp.IsTDSCToken(tok) {
		fail("the DID peer minted a tdsc token")
	}
	return p.call(http.MethodPost, url, b, tok)
}

func (p *didPeer) call(method, url string, body []byte, tok string) (int, []byte) {
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		fail("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// pull fetches the data address with the access token, proving possession
// of the DID document's key (DPoP, RFC 9449).
func (p *didPeer) pull(url, tok string) string {
	proof, err := identity.DPoPProof(p.key, http.MethodGet, url, tok)
	if err != nil {
		fail("DPoP proof: %v", err)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	resp, err := p.hc.Do(req)
	if err != nil {
		fail("pull %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		fail("pull %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// TestDIDPeerCannotClaimAnotherParticipant: a credential from a trusted
// issuer that names a ledger participant other than the one registered under
// the caller's DID (here the tdsc node's own id) admits nobody: the ledger,
// not the credential, says who a DID is. A DID the ledger does not register
// is refused too, and a node without DCP refuses DCP tokens, naming why.
func TestDIDPeerCannotClaimAnotherParticipant(t *testing.T) {
	w := newDIDWorld(t)
	catalogReq, _ := json.Marshal(msg(dsp.TypeCatalogRequestMessage))
	if msg := run(func() {
		// The peer's honest credential works.
		st, body := w.peer.send(w.cutDID, w.cutURL+"/catalog/request", msg(dsp.TypeCatalogRequestMessage))
		ok2xx("CatalogRequestMessage", st, body)

		// A second DID participant, unknown to the ledger, whose Credential
		// Service holds a credential naming the tdsc node's participant id.
		impostor := newDIDPeerAt(t, w.hub, w.hubMux, w.hc, w.sp, w.authDID, "impostor")
		forged, err := w.issuer.Issue(identity.Participant{ID: cutID, DID: impostor.did, Name: "impostor", Region: "CN-BJ", Status: identity.StatusActive})
		if err != nil {
			fail("issue: %v", err)
		}
		if err := impostor.node.Credentials.Store(forged.JWT); err != nil {
			fail("store: %v", err)
		}
		tok, err := impostor.node.Token(w.cutDID)
		if err != nil {
			fail("token: %v", err)
		}
		st, body = impostor.call(http.MethodPost, w.cutURL+"/catalog/request", catalogReq, tok)
		if st != 401 || !strings.Contains(string(body), "the ledger registers "+cutID+" with DID") {
			fail("a credential naming another participant: %d %s, want 401 saying whom the ledger registers", st, body)
		}

		// A DID peer with an honest credential the ledger never registered.
		stranger := newDIDPeerAt(t, w.hub, w.hubMux, w.hc, w.sp, w.authDID, "stranger")
		cred, err := w.issuer.Issue(identity.Participant{ID: stranger.did, DID: stranger.did, Name: "stranger", Region: "CN-BJ", Status: identity.StatusActive})
		if err != nil {
			fail("issue: %v", err)
		}
		if err := stranger.node.Credentials.Store(cred.JWT); err != nil {
			fail("store: %v", err)
		}
		tok, err = stranger.node.Token(w.cutDID)
		if err != nil {
			fail("token: %v", err)
		}
		st, body = stranger.call(http.MethodPost, w.cutURL+"/catalog/request", catalogReq, tok)
		if st/100 != 4 || !strings.Contains(string(body), stranger.did) {
			fail("a DID the ledger does not register: %d %s, want a 4xx naming it", st, body)
		}
	}); msg != "" {
		t.Fatal(msg)
	}

	// A node without DCP (the TCK tier's CUT) refuses a DCP token, naming why.
	tw := newWorld(t)
	tok, err := w.peer.node.Token("did:web:anyone")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, tw.cutU+"/catalog/request", bytes.NewReader(catalogReq))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 401 || !strings.Contains(string(b), "it has no DID (config did)") {
		t.Fatalf("a DCP token at a node without DCP: %d %s", resp.StatusCode, b)
	}
}

// TestTDSCNodesOverDCP: two tdsc nodes, one of them registered by its DID.
// The consumer (registered by its tdsc id, with a DID beside it) discovers
// the provider from its dspace-version document, calls it with DCP tokens
// (its id is a did:web), and is called back with tdsc tokens (its id is
// not); they agree on countersigned evidence as two tdsc nodes do, and the
// consumer pulls the data through its management API. The ledger names the
// provider by its DID.
func TestTDSCNodesOverDCP(t *testing.T) {
	for _, cs := range []*suite.Suite{suite.Intl, suite.GM} {
		t.Run(cs.Name(), func(t *testing.T) { testTDSCNodesOverDCP(t, cs) })
	}
}

func testTDSCNodesOverDCP(t *testing.T, cs *suite.Suite) {
	ctx := context.Background()
	w := newDIDWorldIn(t, cs)

	provSrv, provURL, provKey, provP := w.didParticipant(cs, identity.Participant{Name: "Statistics bureau", Region: "CN-BJ", OrgType: "government"})
	provDID := provP.DID
	cred, err := w.issuer.Issue(provP)
	if err != nil {
		t.Fatal(err)
	}
	provDCP, err := dcp.NewNode(dcp.NodeConfig{DID: provDID, Key: provKey, DSP: provURL, Space: w.sp.Genesis.Space,
		Trusted: []string{w.authDID}, HTTPClient: w.hc})
	if err != nil {
		t.Fatal(err)
	}
	if err := provDCP.Credentials.Store(cred.JWT); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := connector.Config{ParticipantID: provDID, Space: w.sp.Genesis.Space, Listen: strings.TrimPrefix(provURL, "https://"), PublicURL: provURL,
		DataDir: dir, DataSources: dir, RetryMin: 5 * time.Millisecond, RetryMax: 100 * time.Millisecond, StrictTimeout: 2 * time.Second, MaxAttempts: 1000}
	prov, err := connector.New(ctx, cfg, connector.WithKey(provKey), connector.WithLedger(w.led),
		connector.WithParticipants(w.led), connector.WithRules(w.led), connector.WithRegisteredDatasets(w.led),
		connector.WithOperatorToken(opToken), connector.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		connector.WithHTTPClient(w.hc), connector.WithDCP(provDCP))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		prov.Close(ctx)
	})
	provSrv.Config.Handler = prov.Handler()
	provSrv.StartTLS()
	t.Cleanup(provSrv.Close)

	const data = "district,year,births\nHaidian,2025,21035\n"
	sum := cs.Sum([]byte(data))
	src := filepath.Join(t.TempDir(), "births.csv")
	if err := os.WriteFile(src, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	ds, err := prov.AddDataset(ctx, connector.NewDataset{ID: "births", Title: "Births by district", Classification: "general",
		Category: "population", ContentHash: cs.HashName() + ":" + hex.EncodeToString(sum), Source: "file:" + src})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prov.AddOffer(ctx, connector.NewOffer{ID: "offer-births", Dataset: ds.ID, Policy: json.RawMessage(`{
		"@context": "https://w3id.org/dspace/2025/1/context.jsonld", "@id": "offer-births", "@type": "Offer",
		"permission": [{"action": "use"}]}`)}); err != nil {
		t.Fatal(err)
	}

	tlsConf := w.hc.Transport.(*http.Transport).TLSClientConfig
	c, err := client.New(w.cutURL, opToken, client.WithTLS(tlsConf))
	if err != nil {
		t.Fatal(err)
	}
	neg, err := c.StartNegotiation(ctx, api.StartNegotiation{ProviderURL: provURL, Offer: "offer-births"})
	if err != nil {
		t.Fatal(err)
	}
	if neg.Counterparty != provDID {
		t.Fatalf("discovered provider %q, want its DID %s", neg.Counterparty, provDID)
	}
	deadline := time.Now().Add(waitLong)
	for neg.State != "FINALIZED" {
		if time.Now().After(deadline) || neg.State == "TERMINATED" {
			t.Fatalf("negotiation %s: %s %s", neg.ID, neg.State, neg.Reason)
		}
		if neg, err = c.Negotiation(ctx, neg.ID, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	x, err := c.StartTransfer(ctx, api.StartTransfer{Agreement: neg.AgreementID})
	if err != nil {
		t.Fatal(err)
	}
	if x, err = c.WaitTransfer(ctx, x.ID, "started", waitLong); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "births.csv")
	res, err := c.Pull(ctx, x.ID, out, w.sp.Keys[cutID], client.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); string(got) != data || res.HashSource != "ledger" {
		t.Fatalf("pulled %q (hash from %s), want %q checked against the ledger", got, res.HashSource, data)
	}
	p, err := w.led.Record(ctx, "agreement.signed/"+neg.AgreementID)
	if err != nil {
		t.Fatal(err)
	}
	if p.Record.Actor != provDID || p.Record.Counterparty != cutID || p.Record.Terms == nil || p.Record.Terms.ConsumerSignature == "" {
		t.Fatalf("agreement.signed: actor %q counterparty %q terms %+v; want the provider's DID, %s, the consumer's signature (countersigned)", p.Record.Actor, p.Record.Counterparty, p.Record.Terms, cutID)
	}
}

// TestNodeKeepsItsCredential: a node configured with credentialIssuer and
// no credential obtains its membership credential from the authority's
// Issuer Service by itself, keeps it in its data directory, and holds it
// again after a restart; a change of its ledger entry reconciled by the
// authority brings an offer, and the node files the new credential in
// place of the revoked one.
func TestNodeKeepsItsCredential(t *testing.T) {
	for _, cs := range []*suite.Suite{suite.Intl, suite.GM} {
		t.Run(cs.Name(), func(t *testing.T) { testNodeKeepsItsCredential(t, cs) })
	}
}

func testNodeKeepsItsCredential(t *testing.T, cs *suite.Suite) {
	ctx := context.Background()
	w := newDIDWorldIn(t, cs)
	srv, url, key, p := w.didParticipant(cs, identity.Participant{Name: "Weather bureau", Region: "CN-GD", OrgType: "government"})
	did := p.DID
	dir := t.TempDir()
	cfg := connector.DefaultConfig()
	cfg.ParticipantID, cfg.Space, cfg.Listen, cfg.PublicURL = did, w.sp.Genesis.Space, strings.TrimPrefix(url, "https://"), url
	cfg.DataDir, cfg.DataSources = dir, dir
	cfg.DID, cfg.TrustedIssuers, cfg.CredentialIssuer, cfg.CredentialCheck = did, []string{w.authDID}, w.authDID, 20*time.Millisecond
	var metrics *prometheus.Registry // the running node's
	start := func() *connector.Node {
		t.Helper()
		metrics = prometheus.NewRegistry()
		n, err := connector.New(ctx, cfg, connector.WithKey(key), connector.WithLedger(w.led),
			connector.WithParticipants(w.led), connector.WithRules(w.led), connector.WithRegisteredDatasets(w.led),
			connector.WithOperatorToken(opToken), connector.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			connector.WithHTTPClient(w.hc), connector.WithMetrics(metrics))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	var h atomicHandler
	srv.Config.Handler = &h
	srv.StartTLS()
	t.Cleanup(srv.Close)
	node := start()
	h.set(node.Handler())
	held := func(n *connector.Node, not string) *dcp.CredentialClaims {
		t.Helper()
		deadline := time.Now().Add(waitLong)
		for {
			if got := n.DCP().Credentials.Stored(dcp.TypeMembership); len(got) == 1 {
				c, err := dcp.ParseUnverifiedCredential(got[0])
				if err != nil {
					t.Fatal(err)
				}
				if c.CredID != not {
					return c
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the node holds %d membership credentials: want one, not %q", len(n.DCP().Credentials.Stored(dcp.TypeMembership)), not)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	first := held(node, "")
	if first.Subject.Region != "CN-GD" || first.CredIssuer != w.authDID {
		t.Fatalf("credential %+v from %s: want the authority's, stating region CN-GD", first.Subject, first.CredIssuer)
	}
	// The operator sees it, and why it was requested (GET /api/v1/identity).
	mc, err := client.New(url, opToken, client.WithTLS(w.hc.Transport.(*http.Transport).TLSClientConfig))
	if err != nil {
		t.Fatal(err)
	}
	// The keeper notes the renewal once its request's status says issued,
	// a moment after the credential is stored (and after a first try that
	// found the node's DID document not served yet, while its server
	// started): asked until it says so.
	deadline := time.Now().Add(waitLong)
	for {
		id, err := mc.Identity(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if id.DID == did && len(id.Credentials) == 1 && id.Credentials[0].ID == first.CredID && id.Credentials[0].Delivered && !id.Credentials[0].Expired &&
			id.Keeper != nil && id.Keeper.Credential == first.CredID && strings.Contains(id.Keeper.Reason, "holds none") && id.Keeper.Error == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("identity %+v (keeper %+v): want the DID, the delivered credential %s, renewed because the node held none", id, id.Keeper, first.CredID)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Its metrics give the validity to alert on, and whether renewal fails.
	mfs, err := metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	gauges := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			gauges[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	until, _ := time.Parse(time.RFC3339, first.ValidUntil)
	if v, ok := gauges["tdsc_connector_dcp_credential_valid_until_seconds"]; !ok || int64(v) != until.Unix() {
		t.Fatalf("tdsc_connector_dcp_credential_valid_until_seconds %v (present %v): want %d", v, ok, until.Unix())
	}
	if v, ok := gauges["tdsc_connector_dcp_credential_renewal_failing"]; !ok || v != 0 {
		t.Fatalf("tdsc_connector_dcp_credential_renewal_failing %v (present %v): want 0", v, ok)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "dcp-credentials.json")); err != nil || !strings.Contains(string(b), node.DCP().Credentials.Stored(dcp.TypeMembership)[0]) {
		t.Fatalf("dcp-credentials.json: %v: want the credential in it", err)
	}

	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	node.Close(cctx)
	cancel()
	cfg.CredentialIssuer = "" // the restarted node only reads what it kept
	node = start()
	h.set(node.Handler())
	if c := held(node, ""); c.CredID != first.CredID {
		t.Fatalf("after a restart the node holds %s: want %s", c.CredID, first.CredID)
	}
	cctx, cancel = context.WithTimeout(ctx, 5*time.Second)
	node.Close(cctx)
	cancel()

	cfg.CredentialIssuer = w.authDID
	node = start()
	h.set(node.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		node.Close(ctx)
	})
	upd := w.sp.Record(ledger.KindParticipantUpdated, w.sp.Authority())
	p.Region = "CN-SH"
	upd.Participant = &p
	w.append(upd)
	revoked, err := w.issuer.Reconcile(ctx, identity.NewRegistry(w.led,
		identity.WithNotFound(func(err error) bool { return errors.Is(err, ledger.ErrNotFound) })))
	if err != nil || len(revoked) != 1 || revoked[0] != first.CredID {
		t.Fatalf("reconcile revoked %v, %v: want %s", revoked, err, first.CredID)
	}
	if offered, err := w.issuerService.Reoffer(ctx, revoked); err != nil || len(offered) != 1 {
		t.Fatalf("offered %v, %v: want the node", offered, err)
	}
	if c := held(node, first.CredID); c.Subject.Region != "CN-SH" {
		t.Fatalf("new credential states region %q: want CN-SH", c.Subject.Region)
	}
}

// atomicHandler serves through the handler set last (a node restarted on
// the same address).
type atomicHandler struct{ h atomic.Pointer[http.Handler] }

func (a *atomicHandler) set(h http.Handler) { a.h.Store(&h) }

func (a *atomicHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := a.h.Load()
	if h == nil {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	(*h).ServeHTTP(w, r)
}
