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
	bad.PublicURL, bad.Workers, bad.DatabaseURL = "ftp://x", -1, "mysql://db/tdsc"
	err := bad.Validate()
	for _, field := range []string{"participantId", "space", "publicUrl", "workers", "databaseUrl"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want it to name %s", err, field)
		}
	}
}
