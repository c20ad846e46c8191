package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadServeConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "node.yaml")
	yaml := "participantId: did:p\nspace: s1\nlisten: 127.0.0.1:8181\ndataDir: " + dir + "\nretryMax: 3s\nworkers: 4\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TDSC_LISTEN", "127.0.0.1:9191")
	cfg, err := loadServeConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9191" || cfg.RetryMax != 3*time.Second || cfg.Workers != 4 || cfg.ParticipantID != "did:p" {
		t.Fatalf("config = %+v (the environment must win over the file)", cfg)
	}
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "participantId: did:p\nspace: s1\ncolour: red\n", "colour"},
		{"missing participant", "space: s1\n", "participantId"},
		{"bad duration", "participantId: did:p\nspace: s1\nretryMax: soon\n", "line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			os.WriteFile(p, []byte(tt.yaml), 0o600)
			_, err := loadServeConfig(p)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
		})
	}
}
