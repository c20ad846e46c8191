package connector_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tdsc/tdsc/connector"
	"github.com/tdsc/tdsc/identity"
	"github.com/tdsc/tdsc/ledger/digest"
	"github.com/tdsc/tdsc/suite"
)

// TestOtherSuiteRefused: in either suite, what belongs to the other one is
// refused naming the rule — a DSP call signed with a key of the other suite
// (alg suite.alg, before any key lookup), a dataset registered with the other
// suite's content hash and a receipt in it (suite.hash).
func TestOtherSuiteRefused(t *testing.T) {
	_, prov, cons := twoNodes(t)
	other := suite.GM
	if testSuite == suite.GM {
		other = suite.Intl
	}
	okey, err := identity.Generate(other, "")
	if err != nil {
		t.Fatal(err)
	}
	intruder := &testNode{id: cons.id, key: okey}
	status, body := intruder.sendDSP(t, prov, "/catalog/request", map[string]any{
		"@context": []string{"https://w3id.org/dspace/2025/1/context.jsonld"}, "@type": "CatalogRequestMessage"})
	if status != http.StatusUnauthorized || !strings.Contains(body, suite.RuleAlg) {
		t.Fatalf("a %s token at a %s node: %d %s", other, testSuite, status, body)
	}

	data := []byte("x,y\n1,2\n")
	_, err = prov.AddDataset(context.Background(), connector.NewDataset{ID: "ds-other", Title: "Other", Classification: "general",
		Category: "transport", ContentHash: digest.Of(other.HashName(), data).String()})
	if err == nil || !strings.Contains(err.Error(), suite.RuleHash) {
		t.Fatalf("a %s content hash in a %s space: %v", other, testSuite, err)
	}
}
