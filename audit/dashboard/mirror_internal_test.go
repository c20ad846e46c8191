package dashboard

import (
	"testing"
	"unsafe"
)

// TestRowSize keeps the mirror's cost per record what docs/dashboard.md says:
// a 48-byte row and an 8-byte time.
func TestRowSize(t *testing.T) {
	if got := unsafe.Sizeof(row{}) + unsafe.Sizeof(int64(0)); got != 56 {
		t.Errorf("a record costs %d bytes of row and time, docs/dashboard.md says 56", got)
	}
}
