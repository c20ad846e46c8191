// Command attack is the adversary of scripts/attack.sh: a legitimately
// registered participant (its own key, its own connector, one agreement and
// transfer of its own) that knows what the demo publishes, talking to every
// endpoint of a running space. Each scenario sends its abuse, expects a
// refusal with the status the design names, checks that the refusal was
// recorded where the design records it (the provider's DSP request counter
// and the data plane's denial counter), and that no state changed: the
// provider's and the victim consumer's negotiations, agreements, transfers
// and outbox, and the ledger's size. It prints one line per scenario and
// "N passed, M failed"; it exits non-zero on a failure. Not linked into tdsc.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger"
	"github.com/tdsc/tdsc/ledger/client"
)

type env struct {
	ledger, provider, providerID, providerTok, consumer, consumerTok, mine, mineTok string
	me, suspended                                                                   string
	key, suspendedKey                                                               *identity.Key
	myTransfer                                                                      string
	space, auditorTok                                                               string
}

func main() {
	var e env
	var keyFile, susKeyFile string
	flag.StringVar(&e.ledger, "ledger", "", "ledger service URL")
	flag.StringVar(&e.provider, "provider", "", "the provider connector's URL")
	flag.StringVar(&e.providerID, "provider-id", "", "the provider's participant id")
	flag.StringVar(&e.providerTok, "provider-token", "", "the provider's operator token file (to read its state)")
	flag.StringVar(&e.consumer, "consumer", "", "the victim consumer connector's URL")
	flag.StringVar(&e.consumerTok, "consumer-token", "", "the victim consumer's operator token file")
	flag.StringVar(&e.mine, "mine", "", "the attacker's own connector URL")
	flag.StringVar(&e.mineTok, "mine-token", "", "the attacker's own operator token file")
	flag.StringVar(&e.me, "me", "", "the attacker's participant id")
	flag.StringVar(&keyFile, "key", "", "the attacker's key file")
	flag.StringVar(&e.suspended, "suspended", "", "a suspended participant's id")
	flag.StringVar(&susKeyFile, "suspended-key", "", "its key file")
	flag.StringVar(&e.myTransfer, "my-transfer", "", "the attacker's transfer id (consumer side, on its own connector)")
	flag.StringVar(&e.space, "space", "", "the space id")
	flag.StringVar(&e.auditorTok, "auditor-token", "", "an auditor role token file (to count denial records)")
	inject := flag.String("inject-objection", "", "only file an objection about this dataset with -text as its subject, print the record id")
	text := flag.String("text", "", "the objection's subject text")
	flag.Parse()
	var err error
	if e.key, err = identity.LoadKey(keyFile); err != nil {
		fatal(err)
	}
	if e.suspendedKey, err = identity.LoadKey(susKeyFile); err != nil {
		fatal(err)
	}
	if *inject != "" {
		id, err := fileObjection(&e, *inject, *text)
		if err != nil {
			fatal(err)
		}
		fmt.Println(id)
		return
	}
	for _, p := range []*string{&e.providerTok, &e.consumerTok, &e.mineTok, &e.auditorTok} {
		b, err := os.ReadFile(*p)
		if err != nil {
			fatal(err)
		}
		*p = strings.TrimSpace(string(b))
	}
	os.Exit(run(&e))
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "attack:", err)
	os.Exit(2)
}

var hc = &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type resp struct {
	status int
	body   string
	header http.Header
}

func do(method, url string, hdr map[string]string, body []byte) resp {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return resp{status: -1, body: err.Error()}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := hc.Do(req)
	if err != nil {
		return resp{status: -1, body: err.Error()}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return resp{status: res.StatusCode, body: string(b), header: res.Header}
}

func getJSON(url, tok string, v any) error {
	r := do("GET", url, map[string]string{"Authorization": "Bearer " + tok}, nil)
	if r.status != 200 {
		return fmt.Errorf("GET %s: %d %s", url, r.status, r.body)
	}
	return json.Unmarshal([]byte(r.body), v)
}

// state is a digest of everything an attack must not change.
func (e *env) state() string {
	h := &bytes.Buffer{}
	for _, n := range []struct{ url, tok string }{{e.provider, e.providerTok}, {e.consumer, e.consumerTok}} {
		for _, p := range []string{"negotiations", "agreements", "transfers", "outbox", "datasets", "offers"} {
			r := do("GET", n.url+"/api/v1/"+p, map[string]string{"Authorization": "Bearer " + n.tok}, nil)
			fmt.Fprintf(h, "%s %s %d %s\n", n.url, p, r.status, r.body)
		}
	}
	r := do("GET", e.ledger+"/ledger/v1/checkpoint", nil, nil)
	fmt.Fprintf(h, "ledger %d %s\n", r.status, strings.ReplaceAll(r.body, "\n", "|"))
	return h.String()
}

// denials counts the transfer.denied records on the ledger.
func (e *env) denials() int {
	var page struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := getJSON(e.ledger+"/ledger/v1/records?kind=transfer.denied&limit=1000", e.auditorTok, &page); err != nil {
		fatal(err)
	}
	return len(page.Records)
}

// withoutDenialTrail drops the lines a recorded denial changes: the
// provider's outbox counts and the ledger's checkpoint.
func withoutDenialTrail(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, " outbox ") || strings.HasPrefix(l, "ledger ") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// firstDiff is the first line that differs between two states.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("before %.300s\n      after %.300s", al[i], bl[i])
		}
	}
	return "line count"
}

// counter reads one Prometheus counter (summed over series matching all labels).
func counter(metricsURL, name string, labels ...string) float64 {
	r := do("GET", metricsURL, nil, nil)
	var sum float64
	for _, line := range strings.Split(r.body, "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(line, l) {
				ok = false
			}
		}
		if ok {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// forge signs header.claims with key (nil: no signature) under alg's method
// (sigAlg, when the header lies about it).
func forge(header, claims map[string]any, key *identity.Key, sigAlg string) string {
	hj, _ := json.Marshal(header)
	cj, _ := json.Marshal(claims)
	return forgeRaw(hj, cj, key, sigAlg)
}

func forgeRaw(hj, cj []byte, key *identity.Key, sigAlg string) string {
	s := base64.RawURLEncoding.EncodeToString(hj) + "." + base64.RawURLEncoding.EncodeToString(cj)
	if key == nil {
		return s + "."
	}
	sig, err := jwt.GetSigningMethod(sigAlg).Sign(s, key.Signer())
	if err != nil {
		fatal(err)
	}
	return s + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func jti() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// proto is a well-formed protocol token of the attacker for aud; mutate edits it.
func (e *env) proto(aud string, mutate func(h, c map[string]any)) (map[string]any, map[string]any) {
	now := time.Now().Unix()
	h := map[string]any{"alg": e.key.JWK().Algorithm(), "typ": identity.TypProtocol, "kid": e.key.KeyID()}
	c := map[string]any{"tkn": "protocol", "iss": e.me, "sub": e.me, "aud": []string{aud}, "iat": now, "nbf": now, "exp": now + 60, "jti": jti()}
	if mutate != nil {
		mutate(h, c)
	}
	return h, c
}

func (e *env) token(mutate func(h, c map[string]any)) string {
	h, c := e.proto(e.providerID, mutate)
	return forge(h, c, e.key, e.key.JWK().Algorithm())
}

var catalogBody = []byte(`{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"CatalogRequestMessage"}`)

type scenario struct {
	area, name string
	// run performs the abuse and returns "" when it was refused as expected.
	run func() string
	// recorded names the counter that must grow: metrics URL, name, labels.
	recorded []string
	// denial: the design records this refusal on the ledger as one
	// transfer.denied record through the provider's outbox.
	denial bool
}

func run(e *env) int {
	providerMetrics := e.provider + "/metrics"
	dsp := func(tok string) resp {
		return do("POST", e.provider+"/catalog/request", map[string]string{"Authorization": "Bearer " + tok}, catalogBody)
	}
	want := func(r resp, codes ...int) string {
		for _, c := range codes {
			if r.status == c {
				return ""
			}
		}
		return fmt.Sprintf("answered %d (want %v): %.200s", r.status, codes, r.body)
	}
	dspRefused := []string{providerMetrics, "tdsc_connector_dsp_requests_total", `endpoint="POST /catalog/request"`, `status="401"`}

	// The attacker's own transfer: its data address and access token.
	var mine struct {
		DataAddress struct {
			Endpoint           string `json:"endpoint"`
			EndpointProperties []struct {
				Name, Value string
			} `json:"endpointProperties"`
		} `json:"dataAddress"`
		PeerPID string `json:"peerPid"`
	}
	if err := getJSON(e.mine+"/api/v1/transfers/"+e.myTransfer, e.mineTok, &mine); err != nil {
		fatal(err)
	}
	endpoint, access := mine.DataAddress.Endpoint, ""
	for _, p := range mine.DataAddress.EndpointProperties {
		if p.Name == "authorization" {
			access = p.Value
		}
	}
	if endpoint == "" || access == "" {
		fatal(fmt.Errorf("the attacker's transfer has no data address: %+v", mine))
	}
	// The victim's transfer and negotiation, provider side.
	var provTransfers, provNegs []struct {
		ID           string `json:"id"`
		Counterparty string `json:"counterparty"`
		PeerPID      string `json:"peerPid"`
		State        string `json:"state"`
	}
	if err := getJSON(e.provider+"/api/v1/transfers", e.providerTok, &provTransfers); err != nil {
		fatal(err)
	}
	if err := getJSON(e.provider+"/api/v1/negotiations", e.providerTok, &provNegs); err != nil {
		fatal(err)
	}
	var victimT, victimN, myN, myT string
	for _, x := range provTransfers {
		if x.Counterparty != e.me && victimT == "" {
			victimT = x.ID
		}
		if x.Counterparty == e.me && myT == "" {
			myT = x.ID
		}
	}
	for _, x := range provNegs {
		if x.Counterparty != e.me && victimN == "" {
			victimN = x.ID
		}
		if x.Counterparty == e.me && x.State == "FINALIZED" && myN == "" {
			myN = x.ID
		}
	}
	if victimT == "" || victimN == "" || myN == "" || myT == "" {
		fatal(fmt.Errorf("setup: victim transfer %q negotiation %q, own negotiation %q transfer %q", victimT, victimN, myN, myT))
	}
	dataURL := func(transfer string) string {
		return regexp.MustCompile(`/data/[^/]+`).ReplaceAllString(endpoint, "/data/"+transfer)
	}
	pull := func(url, tok string, proof func(url string) string) resp {
		return do("GET", url, map[string]string{"Authorization": "DPoP " + tok, "DPoP": proof(url), "Range": "bytes=0-0"}, nil)
	}
	myProof := func(url string) string {
		p, err := identity.DPoPProof(e.key, "GET", url, access)
		if err != nil {
			fatal(err)
		}
		return p
	}
	dataDenied := []string{providerMetrics, "tdsc_dataplane_denied_total"}
	sus := &env{me: e.suspended, key: e.suspendedKey, providerID: e.providerID}
	alg := e.key.JWK().Algorithm()
	other := map[string]string{"EdDSA": "ES256", "ES256": "EdDSA"}[alg]

	sc := []scenario{
		{"jwt", "no token", func() string { return want(dsp(""), 401) }, nil, false},
		{"jwt", "alg none", func() string {
			h, c := e.proto(e.providerID, func(h, c map[string]any) { h["alg"] = "none" })
			return want(dsp(forge(h, c, nil, "")), 401)
		}, dspRefused, false},
		{"jwt", "HS256 keyed with the registered public key", func() string {
			h, c := e.proto(e.providerID, func(h, c map[string]any) { h["alg"] = "HS256" })
			hj, _ := json.Marshal(h)
			cj, _ := json.Marshal(c)
			pub, _ := json.Marshal(e.key.JWK())
			s := base64.RawURLEncoding.EncodeToString(hj) + "." + base64.RawURLEncoding.EncodeToString(cj)
			sig, _ := jwt.SigningMethodHS256.Sign(s, pub)
			return want(dsp(s+"."+base64.RawURLEncoding.EncodeToString(sig)), 401)
		}, dspRefused, false},
		{"jwt", "alg switched in the header (" + alg + " signature, " + other + " header)", func() string {
			h, c := e.proto(e.providerID, func(h, c map[string]any) { h["alg"] = other })
			return want(dsp(forge(h, c, e.key, alg)), 401)
		}, dspRefused, false},
		{"jwt", "kid of another participant's key", func() string {
			return want(dsp(e.token(func(h, c map[string]any) { h["kid"] = e.suspendedKey.KeyID() })), 401)
		}, dspRefused, false},
		{"jwt", "jku header", func() string {
			return want(dsp(e.token(func(h, c map[string]any) { h["jku"] = "http://127.0.0.1:1/jwks.json" })), 401)
		}, dspRefused, false},
		{"jwt", "embedded jwk header", func() string {
			return want(dsp(e.token(func(h, c map[string]any) { h["jwk"] = e.key.JWK() })), 401)
		}, dspRefused, false},
		{"jwt", "x5u header", func() string {
			return want(dsp(e.token(func(h, c map[string]any) { h["x5u"] = "http://127.0.0.1:1/cert.pem" })), 401)
		}, dspRefused, false},
		{"jwt", "expired", func() string {
			return want(dsp(e.token(func(h, c map[string]any) {
				c["iat"], c["nbf"], c["exp"] = time.Now().Add(-10*time.Minute).Unix(), time.Now().Add(-10*time.Minute).Unix(), time.Now().Add(-9*time.Minute).Unix()
			})), 401)
		}, dspRefused, false},
		{"jwt", "audience of another participant", func() string {
			return want(dsp(e.token(func(h, c map[string]any) { c["aud"] = []string{e.suspended} })), 401)
		}, dspRefused, false},
		{"jwt", "iss != sub (speaking for the provider)", func() string {
			return want(dsp(e.token(func(h, c map[string]any) { c["sub"] = e.providerID })), 401)
		}, dspRefused, false},
		{"jwt", "replayed jti", func() string {
			tok := e.token(nil)
			if r := dsp(tok); r.status != 200 {
				return fmt.Sprintf("first use answered %d: %.200s", r.status, r.body)
			}
			return want(dsp(tok), 401)
		}, dspRefused, false},
		{"jwt", "kind confusion: access token as protocol token", func() string { return want(dsp(access), 401) }, dspRefused, false},
		{"jwt", "kind confusion: typ protocol, tkn access", func() string {
			return want(dsp(e.token(func(h, c map[string]any) { c["tkn"] = "access" })), 401)
		}, dspRefused, false},
		{"jwt", "suspended participant's own valid token", func() string { return want(dsp(sus.token(nil)), 403) },
			[]string{providerMetrics, "tdsc_connector_dsp_requests_total", `endpoint="POST /catalog/request"`, `status="403"`}, false},
		{"jwt", "1 MB token", func() string {
			return want(dsp(e.token(func(h, c map[string]any) { c["pad"] = strings.Repeat("A", 1<<20) })), 401, 431)
		}, nil, false},
		{"jwt", "duplicate claims (iss twice: provider, then attacker)", func() string {
			h, c := e.proto(e.providerID, nil)
			hj, _ := json.Marshal(h)
			cj, _ := json.Marshal(c)
			cj = append([]byte(`{"iss":"`+e.providerID+`",`), cj[1:]...)
			return want(dsp(forgeRaw(hj, cj, e.key, alg)), 401)
		}, dspRefused, false},
		{"jwt", "duplicate claims (iss twice: attacker, then victim consumer)", func() string {
			h, c := e.proto(e.providerID, nil)
			delete(c, "sub")
			hj, _ := json.Marshal(h)
			cj, _ := json.Marshal(c)
			cj = append(cj[:len(cj)-1], []byte(`,"sub":"`+e.me+`","iss":"`+e.suspended+`"}`)...)
			return want(dsp(forgeRaw(hj, cj, e.key, alg)), 401, 403)
		}, nil, false},

		{"dpop", "access token without a proof", func() string {
			return want(do("GET", endpoint, map[string]string{"Authorization": "DPoP " + access}, nil), 401)
		}, dataDenied, true},
		{"dpop", "access token as a Bearer token", func() string {
			return want(do("GET", endpoint, map[string]string{"Authorization": "Bearer " + access}, nil), 401)
		}, dataDenied, true},
		{"dpop", "proof signed by another key", func() string {
			return want(pull(endpoint, access, func(u string) string { p, _ := identity.DPoPProof(e.suspendedKey, "GET", u, access); return p }), 401)
		}, dataDenied, true},
		{"dpop", "proof made for another URL", func() string {
			return want(pull(endpoint, access, func(string) string { return myProof(endpoint + "/other") }), 401)
		}, dataDenied, true},
		{"dpop", "proof replayed", func() string {
			p := myProof(endpoint)
			if r := pull(endpoint, access, func(string) string { return p }); r.status != 206 && r.status != 200 {
				return fmt.Sprintf("first use answered %d: %.200s", r.status, r.body)
			}
			return want(pull(endpoint, access, func(string) string { return p }), 401)
		}, dataDenied, true},
		{"dpop", "token of one transfer used on another's", func() string {
			return want(pull(dataURL(victimT), access, myProof), 403)
		}, dataDenied, true},
		{"path", "data path traversal (../ in the path)", func() string {
			r := rawGet(endpoint+"/../../../../etc/passwd", access, myProof)
			if strings.Contains(r.body, "root:") {
				return "served /etc/passwd"
			}
			return want(r, 301, 307, 308, 400, 401, 403, 404)
		}, nil, false},
		{"path", "data path traversal (%2e%2e%2f encoded)", func() string {
			r := rawGet(endpoint+"/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd", access, myProof)
			if strings.Contains(r.body, "root:") {
				return "served /etc/passwd"
			}
			return want(r, 301, 307, 308, 400, 401, 403, 404)
		}, nil, false},
		{"path", "dataset id with ../ (management API)", func() string {
			body := []byte(`{"id":"../../escape","title":"x","classification":"general","category":"transport","contentHash":"sha256:` + strings.Repeat("0", 64) + `","source":"file:traffic.csv"}`)
			return want(do("POST", e.provider+"/api/v1/datasets", map[string]string{"Authorization": "Bearer " + e.providerTok}, body), 400)
		}, nil, false},
		{"path", "registered dataset source outside the data sources (file:../)", func() string {
			body := []byte(`{"id":"ds-escape","title":"x","classification":"general","category":"transport","contentHash":"sha256:` + strings.Repeat("0", 64) + `","source":"file:../../../../etc/passwd"}`)
			return want(do("POST", e.provider+"/api/v1/datasets", map[string]string{"Authorization": "Bearer " + e.providerTok}, body), 400)
		}, nil, false},
		{"path", "registered dataset source absolute (file:/etc/passwd)", func() string {
			body := []byte(`{"id":"ds-escape2","title":"x","classification":"general","category":"transport","contentHash":"sha256:` + strings.Repeat("0", 64) + `","source":"file:/etc/passwd"}`)
			return want(do("POST", e.provider+"/api/v1/datasets", map[string]string{"Authorization": "Bearer " + e.providerTok}, body), 400)
		}, nil, false},
		{"path", "catalog dataset id with ../", func() string {
			r := rawDSP("GET", e.provider+"/catalog/datasets/../../../etc/passwd", e.token(nil))
			if strings.Contains(r.body, "root:") {
				return "served /etc/passwd"
			}
			return want(r, 301, 307, 308, 400, 404)
		}, nil, false},

		{"management", "no token", func() string { return want(do("GET", e.provider+"/api/v1/negotiations", nil, nil), 401) }, nil, false},
		{"management", "another node's operator token", func() string {
			return want(do("GET", e.provider+"/api/v1/negotiations", map[string]string{"Authorization": "Bearer " + e.mineTok}, nil), 401)
		}, nil, false},
		{"management", "a protocol token instead of the operator token", func() string {
			return want(do("POST", e.provider+"/api/v1/offers", map[string]string{"Authorization": "Bearer " + e.token(nil)}, []byte(`{}`)), 401)
		}, nil, false},
		{"management", "cross-origin preflight gets no CORS grant", func() string {
			r := do("OPTIONS", e.provider+"/api/v1/negotiations", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}, nil)
			if a := r.header.Get("Access-Control-Allow-Origin"); a != "" {
				return "Access-Control-Allow-Origin: " + a
			}
			return ""
		}, nil, false},
		{"management", "cross-origin simple POST (no token, text/plain)", func() string {
			return want(do("POST", e.provider+"/api/v1/agreements/x/revoke", map[string]string{"Origin": "http://evil.example", "Content-Type": "text/plain"}, []byte(`{}`)), 401)
		}, nil, false},

		{"dsp", "event for another participant's negotiation", func() string {
			body := []byte(`{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"ContractNegotiationEventMessage","providerPid":"` + victimN + `","consumerPid":"x","eventType":"ACCEPTED"}`)
			return want(do("POST", e.provider+"/negotiations/"+victimN+"/events", map[string]string{"Authorization": "Bearer " + e.token(nil)}, body), 403, 404)
		}, nil, false},
		{"dsp", "read another participant's negotiation", func() string {
			return want(do("GET", e.provider+"/negotiations/"+victimN, map[string]string{"Authorization": "Bearer " + e.token(nil)}, nil), 403, 404)
		}, nil, false},
		{"dsp", "terminate another participant's transfer", func() string {
			body := []byte(`{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"TransferTerminationMessage","providerPid":"` + victimT + `","consumerPid":"x","code":"x"}`)
			return want(do("POST", e.provider+"/transfers/"+victimT+"/termination", map[string]string{"Authorization": "Bearer " + e.token(nil)}, body), 403, 404)
		}, nil, false},
		{"dsp", "out of order: verification of an own finalized negotiation", func() string {
			body := []byte(`{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"ContractAgreementVerificationMessage","providerPid":"` + myN + `","consumerPid":"x"}`)
			return want(do("POST", e.provider+"/negotiations/"+myN+"/agreement/verification", map[string]string{"Authorization": "Bearer " + e.token(nil)}, body), 400, 409)
		}, nil, false},
		{"dsp", "out of order: start of an own completed transfer", func() string {
			body := []byte(`{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"TransferStartMessage","providerPid":"` + myT + `","consumerPid":"` + mine.PeerPID + `"}`)
			return want(do("POST", e.provider+"/transfers/"+myT+"/start", map[string]string{"Authorization": "Bearer " + e.token(nil)}, body), 400, 409)
		}, nil, false},
		{"callback", "callbackAddress = the ledger service", func() string {
			return want(negotiate(e, e.ledger+"/ledger/v1"), 400)
		}, nil, false},
		{"callback", "callbackAddress = the provider's own management API", func() string {
			return want(negotiate(e, e.provider+"/api/v1"), 400)
		}, nil, false},
		{"callback", "callbackAddress = another node's management API on loopback", func() string {
			return want(negotiate(e, e.consumer+"/api/v1"), 400)
		}, nil, false},
		{"callback", "callbackAddress = cloud metadata (169.254.169.254)", func() string {
			return want(negotiate(e, "http://169.254.169.254/latest"), 400)
		}, nil, false},
		{"callback", "callbackAddress = localhost by name on the ledger's port", func() string {
			_, port, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(e.ledger, "http://"), "https://"))
			return want(negotiate(e, "http://localhost:"+port+"/x"), 400)
		}, nil, false},

		{"input", "oversized JSON (2 MiB body)", func() string {
			body := append([]byte(`{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"CatalogRequestMessage","x":"`), bytes.Repeat([]byte("A"), 2<<20)...)
			body = append(body, `"}`...)
			return want(do("POST", e.provider+"/catalog/request", map[string]string{"Authorization": "Bearer " + e.token(nil)}, body), 400, 413)
		}, nil, false},
		{"input", "deeply nested JSON (100,000 levels)", func() string {
			body := append(append([]byte(`{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"CatalogRequestMessage","filter":`), bytes.Repeat([]byte("["), 100000)...), bytes.Repeat([]byte("]"), 100000)...)
			body = append(body, '}')
			return want(do("POST", e.provider+"/catalog/request", map[string]string{"Authorization": "Bearer " + e.token(nil)}, body), 400, 413)
		}, nil, false},
		{"input", "deeply nested JSON to the ledger service", func() string {
			body := append(bytes.Repeat([]byte(`{"a":`), 100000), bytes.Repeat([]byte("}"), 100000)...)
			return want(do("POST", e.ledger+"/ledger/v1/batches", nil, body), 400, 401, 413)
		}, nil, false},
		{"input", "slow headers (slowloris) are cut off", func() string { return slowHeaders(e.provider) }, nil, false},
	}
	passed, failed := 0, 0
	for _, s := range sc {
		before := e.state()
		var base float64
		if s.recorded != nil {
			base = counter(s.recorded[0], s.recorded[1], s.recorded[2:]...)
		}
		denials := e.denials()
		msg := s.run()
		if msg == "" && s.denial {
			got := denials
			for i := 0; i < 100 && got == denials; i++ {
				time.Sleep(50 * time.Millisecond)
				got = e.denials()
			}
			if got != denials+1 {
				msg = fmt.Sprintf("transfer.denied records on the ledger went from %d to %d, want one more", denials, got)
			}
			before = withoutDenialTrail(before)
		}
		if msg == "" && s.recorded != nil {
			if got := counter(s.recorded[0], s.recorded[1], s.recorded[2:]...); got <= base {
				msg = fmt.Sprintf("refusal not recorded: %s%v stayed at %v", s.recorded[1], s.recorded[2:], got)
			}
		}
		if msg == "" {
			after := e.state()
			if s.denial {
				after = withoutDenialTrail(after)
			}
			if after != before {
				msg = "state changed: " + firstDiff(before, after)
			}
		}
		if msg == "" {
			passed++
			fmt.Printf("PASS %-10s %s\n", s.area, s.name)
		} else {
			failed++
			fmt.Printf("FAIL %-10s %s: %s\n", s.area, s.name, msg)
		}
	}
	fmt.Printf("attack (go): %d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// rawGet sends a GET with the request path exactly as given (no cleaning).
func rawGet(url, tok string, proof func(string) string) resp {
	req, _ := http.NewRequest("GET", url, nil)
	req.URL.Opaque = "" // keep the path as parsed (net/http does not clean client paths)
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof(url))
	res, err := hc.Do(req)
	if err != nil {
		return resp{status: -1, body: err.Error()}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return resp{status: res.StatusCode, body: string(b)}
}

func rawDSP(method, url, tok string) resp {
	return do(method, url, map[string]string{"Authorization": "Bearer " + tok}, nil)
}

// negotiate sends a contract request for the provider's offer with the given
// callback address.
func negotiate(e *env, callback string) resp {
	var cat map[string]any
	r := do("POST", e.provider+"/catalog/request", map[string]string{"Authorization": "Bearer " + e.token(nil)}, catalogBody)
	if r.status != 200 || json.Unmarshal([]byte(r.body), &cat) != nil {
		return r
	}
	offer := firstOffer(cat)
	if offer == nil {
		return resp{status: -1, body: "no offer in the catalog: " + r.body}
	}
	offer["target"] = firstDataset(cat)
	msg := map[string]any{"@context": []string{"https://w3id.org/dspace/2025/1/context.jsonld"}, "@type": "ContractRequestMessage",
		"consumerPid": "urn:uuid:attack-" + jti(), "offer": offer, "callbackAddress": callback}
	b, _ := json.Marshal(msg)
	return do("POST", e.provider+"/negotiations/request", map[string]string{"Authorization": "Bearer " + e.token(nil)}, b)
}

func firstOffer(cat map[string]any) map[string]any {
	ds, _ := cat["dataset"].([]any)
	for _, d := range ds {
		dm, _ := d.(map[string]any)
		ps, _ := dm["hasPolicy"].([]any)
		for _, p := range ps {
			if pm, ok := p.(map[string]any); ok {
				return pm
			}
		}
	}
	return nil
}

func firstDataset(cat map[string]any) any {
	ds, _ := cat["dataset"].([]any)
	if len(ds) > 0 {
		if dm, ok := ds[0].(map[string]any); ok {
			return dm["@id"]
		}
	}
	return nil
}

// slowHeaders opens a connection and dribbles a header line every 2 s: the
// server must close it (ReadHeaderTimeout) within its stated 10 s, plus slack.
func slowHeaders(base string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	start := time.Now()
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")); err != nil {
		return err.Error()
	}
	for time.Since(start) < 30*time.Second {
		time.Sleep(2 * time.Second)
		if _, err := c.Write([]byte("X-Slow: 1\r\n")); err != nil {
			return "" // closed by the server
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		buf := make([]byte, 512)
		if n, err := c.Read(buf); n > 0 || (err != nil && !isTimeout(err)) {
			if time.Since(start) > 15*time.Second {
				return fmt.Sprintf("closed only after %v", time.Since(start).Round(time.Second))
			}
			return ""
		}
	}
	return "a connection dribbling headers was held open 30 s"
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// fileObjection writes an objection.filed record about dataset whose
// subject is text, signed by the attacker, through the ledger service: the
// dashboard shows it to auditors and regulators.
func fileObjection(e *env, dataset, text string) (string, error) {
	c, err := client.New(e.ledger)
	if err != nil {
		return "", err
	}
	rec := ledger.Record{Schema: ledger.SchemaVersion, ID: "urn:uuid:" + uuid(), Kind: ledger.KindObjectionFiled,
		Time: time.Now().UTC().Format(time.RFC3339), Actor: e.me, Dataset: dataset,
		Objection: &ledger.Objection{ID: "obj-" + jti()[:8], Subject: text}}
	b, err := ledger.NewBatch(e.space, e.me, e.key, []ledger.Record{rec})
	if err != nil {
		return "", err
	}
	if _, err := c.Append(context.Background(), b); err != nil {
		return "", err
	}
	return rec.ID, nil
}

func uuid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
