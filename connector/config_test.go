package connector

import (
	"strings"
	"testing"
	"time"
)

func TestConfigEnvAndValidate(t *testing.T) {
	c := DefaultConfig()
	env := map[string]string{"TDSC_PARTICIPANT_ID": "did:p", "TDSC_SPACE": "s1", "TDSC_LISTEN": "127.0.0.1:9999",
		"TDSC_WORKERS": "3", "TDSC_RETRY_MAX": "2s", "TDSC_HASH_EVERY_SEND": "true"}
	if err := c.ApplyEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c = c.withDefaults()
	if c.ParticipantID != "did:p" || c.Workers != 3 || c.RetryMax != 2*time.Second || !c.HashEverySend || c.PublicURL != "http://127.0.0.1:9999" {
		t.Fatalf("config = %+v", c)
	}
	tests := []struct {
		name, env, value, want string
	}{
		{"bad duration", "TDSC_RETRY_MIN", "soon", "TDSC_RETRY_MIN"},
		{"bad int", "TDSC_WORKERS", "many", "TDSC_WORKERS"},
		{"bad bool", "TDSC_HASH_EVERY_SEND", "sometimes", "TDSC_HASH_EVERY_SEND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			err := c.ApplyEnv(func(k string) (string, bool) { return tt.value, k == tt.env })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
	bad := DefaultConfig()
	bad.PublicURL, bad.Workers, bad.DatabaseURL, bad.DirectoryPoll = "ftp://x", -1, "mysql://db/tdsc", 5*time.Millisecond
	err := bad.Validate()
	for _, field := range []string{"participantId", "space", "publicUrl", "workers", "databaseUrl", "directoryPoll"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want it to name %s", err, field)
		}
	}
}

// TestConfigDID: did needs trustedIssuers and must resolve to this node's
// public address; trustedIssuers, credentialFiles and credentialIssuer need
// did, and credentialIssuer must be a trusted issuer.
func TestConfigDID(t *testing.T) {
	base := DefaultConfig()
	base.ParticipantID, base.Space, base.PublicURL = "p1", "s1", "https://node.example.com:8443"
	tests := []struct {
		name    string
		set     func(*Config)
		wantErr string
	}{
		{"did and issuers", func(c *Config) {
			c.DID, c.TrustedIssuers = "did:web:node.example.com%3A8443", []string{"did:web:authority.example.com"}
		}, ""},
		{"did without issuers", func(c *Config) { c.DID = "did:web:node.example.com%3A8443" }, "config: trustedIssuers: required with did"},
		{"did of another host", func(c *Config) {
			c.DID, c.TrustedIssuers = "did:web:other.example.com", []string{"did:web:authority.example.com"}
		}, "config: did: did:web:other.example.com resolves to https://other.example.com"},
		{"not a did:web", func(c *Config) {
			c.DID, c.TrustedIssuers = "did:key:z6Mk", []string{"did:web:authority.example.com"}
		}, "config: did:"},
		{"a bad allowed host", func(c *Config) {
			c.DID, c.TrustedIssuers, c.DCPAllowedHosts = "did:web:node.example.com%3A8443", []string{"did:web:authority.example.com"}, []string{"https://x"}
		}, "config: dcpAllowedHosts:"},
		{"issuers without did", func(c *Config) { c.TrustedIssuers = []string{"did:web:authority.example.com"} }, "config: trustedIssuers/credentialFiles: need did"},
		{"credential issuer among the trusted", func(c *Config) {
			c.DID, c.TrustedIssuers, c.CredentialIssuer = "did:web:node.example.com%3A8443", []string{"did:web:authority.example.com"}, "did:web:authority.example.com"
		}, ""},
		{"credential issuer not trusted", func(c *Config) {
			c.DID, c.TrustedIssuers, c.CredentialIssuer = "did:web:node.example.com%3A8443", []string{"did:web:authority.example.com"}, "did:web:other.example.com"
		}, "config: credentialIssuer: did:web:other.example.com must be one of trustedIssuers"},
		{"credential check too short", func(c *Config) {
			c.DID, c.TrustedIssuers, c.CredentialIssuer, c.CredentialCheck = "did:web:node.example.com%3A8443", []string{"did:web:authority.example.com"}, "did:web:authority.example.com", time.Millisecond
		}, "config: credentialCheck: must be at least 10ms"},
		{"credential issuer without did", func(c *Config) { c.CredentialIssuer = "did:web:authority.example.com" }, "config: credentialIssuer: needs did"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.set(&c)
			err := c.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
