package connector

import (
	"regexp"
	"testing"
	"time"
)

func TestNewUUIDv7IsTimeOrderedVersion7(t *testing.T) {
	re := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	t0 := time.Date(2026, 11, 23, 21, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := NewUUIDv7(t0.Add(time.Duration(i/10) * time.Millisecond)) // ten per millisecond
		if !re.MatchString(id) {
			t.Fatalf("id %q is not a version 7 URN", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
		if i%10 == 0 && id < prev {
			t.Fatalf("id %q of a later millisecond sorts before %q", id, prev)
		}
		prev = id
	}
	if got, want := NewUUIDv7(t0)[9:22], "01a20a35-6080"; got != want {
		t.Errorf("timestamp of %s = %s, want %s", t0, got, want)
	}
}
