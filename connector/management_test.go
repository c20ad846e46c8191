package connector_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector"
	capi "github.com/tdsc/tdsc/connector/api"
	"github.com/tdsc/tdsc/connector/client"
	"github.com/tdsc/tdsc/connector/store"
)

func api(t *testing.T, n *testNode, method, path, token, body string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, n.url()+"/api/v1"+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// pages reads a list of the management API page by page, following each
// answer's Link rel="next", and fails the test on an answer other than 200
// with a JSON array, or past max pages.
func pages[T any](t *testing.T, n *testNode, path string, max int) [][]T {
	t.Helper()
	var out [][]T
	for path != "" {
		req, _ := http.NewRequest("GET", n.url()+path, nil)
		req.Header.Set("Authorization", "Bearer "+opToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page []T
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || len(out) >= max {
			t.Fatalf("page %d of %s: HTTP %d, %v (at most %d pages)", len(out), path, resp.StatusCode, err, max)
		}
		out = append(out, page)
		path = ""
		if link := resp.Header.Get("Link"); link != "" {
			path = strings.TrimPrefix(strings.TrimSuffix(link, `>; rel="next"`), "<")
		}
	}
	return out
}

func TestManagementAPI(t *testing.T) {
	_, prov, cons := twoNodes(t)
	if status, _ := api(t, prov, "GET", "/datasets", "", ""); status != 401 {
		t.Fatalf("no token: %d, want 401", status)
	}
	if status, _ := api(t, prov, "GET", "/datasets", "wrong-token-of-enough-length", ""); status != 401 {
		t.Fatalf("wrong token: %d, want 401", status)
	}
	content := []byte("a registered file\n")
	if err := os.WriteFile(filepath.Join(prov.dir, "reg.txt"), content, 0o600); err != nil {
		t.Fatal(err)
	}
	alg := testSuite.HashName()
	fileHash := contentHash(content)
	tests := []struct {
		name, body string
		status     int
		want       string
	}{
		{"file checked", `{"id":"ds-f1","title":"F","classification":"general","category":"x","source":"file:reg.txt","contentHash":"` + strings.ToUpper(fileHash) + `"}`, 201, `"contentHash":"` + fileHash + `"`},
		{"file hashed", `{"id":"ds-f2","title":"F","classification":"general","category":"x","source":"file:reg.txt"}`, 201, `"contentHash":"` + fileHash + `"`},
		{"file mismatch", `{"title":"F","classification":"general","category":"x","source":"file:reg.txt","contentHash":"` + alg + `:` + strings.Repeat("2", 64) + `"}`, 400, "contentHash: the file of source file:reg.txt hashes to " + fileHash},
		{"file missing", `{"title":"F","classification":"general","category":"x","source":"file:nope.txt"}`, 400, "source: file:nope.txt"},
		{"file is a directory", `{"title":"F","classification":"general","category":"x","source":"file:."}`, 400, "source: file:."},
		{"dir missing", `{"title":"F","classification":"general","category":"x","source":"dir:nope"}`, 400, "source: dir:nope"},
		{"bad source", `{"title":"F","classification":"general","category":"x","source":"s3://bucket/key"}`, 400, "source: must be file:PATH"},
		{"bad hash", `{"title":"F","classification":"general","category":"x","contentHash":"md5:abc"}`, 400, "contentHash: must be " + alg + ":"},
		{"short hash", `{"title":"F","classification":"general","category":"x","contentHash":"` + alg + `:abcd"}`, 400, "contentHash: must be " + alg + ":"},
		{"registers", `{"id":"ds-a","title":"A","classification":"important","category":"health","contentHash":"` + alg + `:` + strings.Repeat("1", 64) + `"}`, 201, `"id":"ds-a"`},
		{"duplicate", `{"id":"ds-a","title":"A","classification":"important","category":"health"}`, 409, "already registered"},
		{"bad classification", `{"title":"B","classification":"secret","category":"x"}`, 400, "classification"},
		{"unknown field", `{"title":"B","classification":"general","category":"x","colour":"red"}`, 400, "colour"},
		{"bad rights", `{"title":"B","classification":"general","category":"x","rights":["own"]}`, 400, "rights[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, b := api(t, prov, "POST", "/datasets", opToken, tt.body)
			if status != tt.status || !strings.Contains(string(b), tt.want) {
				t.Fatalf("%d %s", status, b)
			}
		})
	}
	status, b := api(t, prov, "POST", "/offers", opToken, `{"dataset":"ds-a","policy":{"@id":"o-a","@type":"Offer","permission":[{"action":"use","constraint":[{"leftOperand":"purpos","operator":"eq","rightOperand":"x"}]}]}}`)
	if status != 400 || !strings.Contains(string(b), "purpos") {
		t.Fatalf("bad policy: %d %s", status, b)
	}
	if status, b = api(t, prov, "POST", "/offers", opToken, `{"dataset":"ds-a","policy":`+researchOffer+`}`); status != 201 {
		t.Fatalf("offer: %d %s", status, b)
	}
	status, b = api(t, cons, "POST", "/negotiations", opToken, `{"providerUrl":"`+prov.url()+`","offer":"offer-research","purpose":"research"}`)
	if status != 202 {
		t.Fatalf("start negotiation: %d %s", status, b)
	}
	var neg store.Negotiation
	json.Unmarshal(b, &neg)
	status, b = api(t, cons, "GET", "/negotiations/"+neg.ID+"?wait=10s", opToken, "")
	json.Unmarshal(b, &neg)
	if status != 200 || neg.State != "FINALIZED" || len(neg.History) != 4 {
		t.Fatalf("negotiation: %d %s", status, b)
	}
	_, b = api(t, cons, "POST", "/transfers", opToken, `{"agreement":"`+neg.AgreementID+`"}`)
	var x store.Transfer
	json.Unmarshal(b, &x)
	status, b = api(t, cons, "GET", "/transfers/"+x.ID+"?wait=10s", opToken, "")
	if json.Unmarshal(b, &x); status != 200 || x.State != "STARTED" {
		t.Fatalf("transfer: %d %s", status, b)
	}
	// The consumer's receipt of bytes that are not the registered ones: 422, recorded.
	status, b = api(t, cons, "POST", "/transfers/"+x.ID+"/receipt", opToken, `{"bytes":3,"contentHash":"`+testSuite.HashName()+`:`+strings.Repeat("0", 64)+`"}`)
	if status != 422 || !strings.Contains(string(b), "hash-mismatch") {
		t.Fatalf("mismatching receipt: %d %s", status, b)
	}
	if status, b = api(t, cons, "POST", "/transfers/"+x.ID+"/receipt", opToken, `{"bytes":3,"sha256":"xyz"}`); status != 400 || !strings.Contains(string(b), "sha256") {
		t.Fatalf("receipt without a hash: %d %s", status, b)
	}
	if status, b = api(t, cons, "POST", "/transfers", opToken, `{"agreement":"`+neg.AgreementID+`","format":"HttpData-CARRIER-PIGEON"}`); status != 400 || !strings.Contains(string(b), "HttpData-PUSH") {
		t.Fatalf("unknown format: %d %s", status, b)
	}
	// A push of a dataset with no servable source: the provider refuses it
	// after authorising, and until=done waits for that.
	status, b = api(t, cons, "POST", "/transfers", opToken, `{"agreement":"`+neg.AgreementID+`","format":"HttpData-PUSH"}`)
	var px store.Transfer
	json.Unmarshal(b, &px)
	if status != 202 || px.Format != "HttpData-PUSH" {
		t.Fatalf("push transfer: %d %s", status, b)
	}
	if status, b = api(t, cons, "GET", "/transfers/"+px.ID+"?wait=10s&until=later", opToken, ""); status != 400 || !strings.Contains(string(b), "until") {
		t.Fatalf("bad until: %d %s", status, b)
	}
	status, b = api(t, cons, "GET", "/transfers/"+px.ID+"?wait=10s&until=done", opToken, "")
	if json.Unmarshal(b, &px); status != 200 || px.State != "TERMINATED" || !strings.Contains(px.Reason, "no servable source") {
		t.Fatalf("push without a source: %d %s", status, b)
	}
	// Lists come in pages: a Link rel="next" names the next one; a bad
	// limit or cursor is refused naming the field.
	var pagedIDs []string
	for n, page := range pages[store.Transfer](t, cons, "/api/v1/transfers?limit=1", 3) {
		if len(page) != 1 {
			t.Fatalf("page %d of transfers: %d rows", n, len(page))
		}
		pagedIDs = append(pagedIDs, page[0].ID)
	}
	if len(pagedIDs) != 2 || pagedIDs[0] != px.ID || pagedIDs[1] != x.ID {
		t.Fatalf("transfers page by page: %v, want [%s %s]", pagedIDs, px.ID, x.ID)
	}
	for q, want := range map[string]string{"limit=0": "limit: \\\"0\\\" is not a whole number from 1 to 10000", "limit=10001": "limit:", "after=xyz": "after:"} {
		if status, b := api(t, cons, "GET", "/agreements?"+q, opToken, ""); status != 400 || !strings.Contains(string(b), want) {
			t.Errorf("agreements?%s: %d %s, want 400 naming %s", q, status, b, want)
		}
	}
	status, b = api(t, cons, "GET", "/duties", opToken, "")
	if status != 200 || !strings.Contains(string(b), `"state":"owed"`) {
		t.Fatalf("duties: %d %s", status, b)
	}
	if status, b = api(t, prov, "GET", "/outbox", opToken, ""); status != 200 || !strings.Contains(string(b), "committed") {
		t.Fatalf("outbox: %d %s", status, b)
	}
	var st connector.OutboxStatus
	json.Unmarshal(b, &st)
	if len(st.Refused) != 0 {
		t.Fatalf("refused records: %+v", st.Refused)
	}
	// The outbox's records of one state, page by page (a Link names the
	// next); the client reads them all; bad parameters are refused naming
	// the field.
	var seen []string
	for _, page := range pages[capi.OutboxRecord](t, prov, "/api/v1/outbox/records?state=committed&limit=2", 10000) {
		if len(page) > 2 {
			t.Fatalf("outbox records page: %d rows", len(page))
		}
		for _, r := range page {
			if r.State != "committed" || slices.Contains(seen, r.RecordID) {
				t.Fatalf("record %s (%s) in the committed list, seen %v", r.RecordID, r.State, seen)
			}
			seen = append(seen, r.RecordID)
		}
	}
	// The outbox drains on its own: count again, after the pages.
	var st2 connector.OutboxStatus
	if _, b := api(t, prov, "GET", "/outbox", opToken, ""); json.Unmarshal(b, &st2) != nil {
		t.Fatalf("outbox: %s", b)
	}
	if len(seen) < st.Counts["committed"] || len(seen) > st2.Counts["committed"] || len(seen) < 3 {
		t.Fatalf("paged through %d committed records, the outbox counted %d before and %d after", len(seen), st.Counts["committed"], st2.Counts["committed"])
	}
	mc, err := client.New(prov.url(), opToken)
	if err != nil {
		t.Fatal(err)
	}
	if all, err := mc.OutboxRecords(context.Background(), ""); err != nil || len(all) < len(seen) {
		t.Fatalf("client: %d records, %v", len(all), err)
	}
	for q, want := range map[string]string{"state=lost": "state:", "limit=0": "limit:", "after=xyz": "after:"} {
		if status, b := api(t, prov, "GET", "/outbox/records?"+q, opToken, ""); status != 400 || !strings.Contains(string(b), want) {
			t.Errorf("outbox/records?%s: %d %s, want 400 naming %s", q, status, b, want)
		}
	}
	if status, b = api(t, prov, "GET", "/negotiations/nope", opToken, ""); status != 404 || !strings.Contains(string(b), "not-found") {
		t.Fatalf("missing negotiation: %d %s", status, b)
	}
	_ = context.Background()
}
