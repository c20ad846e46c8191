package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/tdsc/tdsc/policy"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyCheck(t *testing.T) {
	pol := writeFile(t, "policy.json", benchPolicyJSON)
	// The same policy inside a DSP ContractRequestMessage.
	msg := writeFile(t, "msg.json", `{"@context":["https://w3id.org/dspace/2025/1/context.jsonld"],"@type":"ContractRequestMessage","consumerPid":"urn:c","offer":`+benchPolicyJSON+`}`)
	rules := writeFile(t, "rules.json", `{"negativeList":[{"category":"genomic"}]}`)
	now := func() time.Time { return time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) }
	tests := []struct {
		name, policy, request, rules string
		allowed                      bool
		want                         string
	}{
		{"allowed", pol, `{"purpose":"research","uses":1,"consumer":{"region":"CN-SH"},"dataset":{"classification":"general"}}`, "", true, "decision:     allow (permission[0])"},
		{"denied", pol, `{"purpose":"marketing","consumer":{"region":"CN-SH"},"dataset":{"classification":"general"}}`, "", false, `reason:       purpose "marketing" is not "research"`},
		{"from a DSP message", msg, `{"purpose":"research","consumer":{"region":"SG"},"dataset":{"classification":"general"}}`, "", false, "consumer region SG is not within CN"},
		{"space rule wins", pol, `{"purpose":"research","consumer":{"region":"CN-SH"},"dataset":{"classification":"general","category":"genomic"}}`, rules, false, "rule:         space.negative-list"},
		{"expired at an explicit time", pol, `{"purpose":"research","time":"2027-01-01T00:00:00+08:00","consumer":{"region":"CN-SH"},"dataset":{"classification":"general"}}`, "", false, "time 2027-01-01T00:00:00+08:00 is not before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			cmd := &cobra.Command{}
			cmd.SetOut(&out)
			cmd.SetContext(context.Background())
			allowed, err := runPolicyCheck(cmd, tt.policy, writeFile(t, "req.json", tt.request), tt.rules, "text", now)
			if err != nil {
				t.Fatal(err)
			}
			if allowed != tt.allowed || !strings.Contains(out.String(), tt.want) {
				t.Errorf("allowed=%v, want %v; output lacks %q:\n%s", allowed, tt.allowed, tt.want, out.String())
			}
		})
	}

	var out bytes.Buffer
	cmd := &cobra.Command{}
	cmd.SetOut(&out)
	cmd.SetContext(context.Background())
	if _, err := runPolicyCheck(cmd, pol, writeFile(t, "req.json", `{"purpose":"research"}`), "", "json", now); err != nil {
		t.Fatal(err)
	}
	var got struct {
		policy.Decision
		PolicyHash string `json:"policyHash"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.Allowed || len(got.Results) != 5 || !strings.HasPrefix(got.PolicyHash, "sha256:") {
		t.Errorf("json output %v: %s", err, out.String())
	}

	if _, err := runPolicyCheck(cmd, pol, writeFile(t, "req.json", `{"purpse":"research"}`), "", "text", now); err == nil || !strings.Contains(err.Error(), "purpse") {
		t.Errorf("unknown request field: err = %v", err)
	}
	if _, err := runPolicyCheck(cmd, writeFile(t, "p.json", `{"@id":"x","permission":[{"action":"use","constraint":[{"leftOperand":"foo","operator":"eq","rightOperand":"x"}]}]}`), writeFile(t, "req.json", `{}`), "", "text", now); err == nil || !strings.Contains(err.Error(), "permission[0].constraint[0].leftOperand") {
		t.Errorf("bad policy: err = %v", err)
	}
}

func TestPolicyLint(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	errs, err := runPolicyLint(&out, writeFile(t, "p.json", benchPolicyJSON), "text", now)
	if err != nil || errs != 0 || !strings.Contains(out.String(), "no problems") {
		t.Errorf("clean policy: %d errors, %v: %s", errs, err, out.String())
	}
	out.Reset()
	bad := strings.Replace(benchPolicyJSON, `"rightOperand": 100`, `"rightOperand": 0`, 1)
	bad = strings.Replace(bad, `"target": "urn:tdsc:dataset:bench",`, "", 1)
	errs, err = runPolicyLint(&out, writeFile(t, "p.json", bad), "text", now)
	want := "warning target: no target: fine in a catalogue's hasPolicy, required in a contract negotiation's offer\n" +
		"error permission[0].constraint[2]: count allows no use: the first use is number 1\n"
	if err != nil || errs != 1 || out.String() != want {
		t.Errorf("got %d errors, %v:\n%s\nwant:\n%s", errs, err, out.String(), want)
	}
}

func TestBenchPolicy(t *testing.T) {
	res, err := benchPolicy(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	if res.NsPerDecision <= 0 || res.BaselineNs <= 0 || res.Constraints != 5 {
		t.Errorf("result %+v", res)
	}
}
