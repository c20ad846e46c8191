package policy_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tdsc/tdsc/policy"
)

func ExampleEvaluate() {
	p, err := policy.Parse([]byte(`{
	  "@id": "urn:uuid:offer-1", "@type": "Offer", "target": "urn:tdsc:dataset:traffic",
	  "permission": [{"action": "use", "constraint": [
	    {"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"},
	    {"leftOperand": "dateTime", "operator": "lt", "rightOperand": "2027-01-01T00:00:00+08:00"},
	    {"leftOperand": "count", "operator": "lteq", "rightOperand": 100},
	    {"leftOperand": "spatial", "operator": "isPartOf", "rightOperand": "CN"},
	    {"leftOperand": "classification", "operator": "lteq", "rightOperand": "important"}]}]}`))
	if err != nil {
		panic(err)
	}
	c, err := policy.Compile(p)
	if err != nil {
		panic(err)
	}
	d := policy.Evaluate(context.Background(), c, policy.Request{
		Purpose:  "marketing",
		Time:     time.Date(2026, 12, 31, 16, 0, 0, 0, time.UTC), // midnight in Beijing
		Uses:     100,
		Consumer: policy.Party{Region: "CN-BJ"},
		Dataset:  policy.DatasetInfo{Classification: policy.Important},
	})
	fmt.Println(d.Allowed, d.Rule)
	for _, r := range d.Results {
		fmt.Println(r.Satisfied, r.Reason)
	}
	// Output:
	// false permission[0].constraint[0]
	// false purpose "marketing" is not "research"
	// false time 2026-12-31T16:00:00Z is not before 2027-01-01T00:00:00+08:00
	// false use number 101 is not at most 100
	// true consumer region is within CN
	// true classification is at most important
}

func ExampleMatch() {
	offer, _ := policy.Parse([]byte(`{"@id":"urn:o","@type":"Offer","permission":[{"action":"use","constraint":[
	  {"leftOperand":"count","operator":"lteq","rightOperand":100}]}]}`))
	request, _ := policy.Parse([]byte(`{"@id":"urn:r","@type":"odrl:Offer","odrl:permission":[{"odrl:action":"odrl:use","odrl:constraint":[
	  {"leftOperand":"odrl:count","operator":"odrl:lt","rightOperand":{"@value":"51","@type":"xsd:integer"}}]}]}`))
	fmt.Println(policy.Match(offer, request))
	fmt.Println(policy.Match(request, offer))
	// Output:
	// <nil>
	// permission[0].constraint[0]: count lteq 100 is broader than the offer's count lt 51 (permission[0].constraint[0])
}
