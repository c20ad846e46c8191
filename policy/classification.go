package policy

import "fmt"

// Classification is a dataset's grade under GB/T 43697-2024: general, important or core.
type Classification string

const (
	General   Classification = "general"
	Important Classification = "important"
	Core      Classification = "core"
)

// Rank orders levels: general 1, important 2, core 3; 0 for an unknown level.
func (c Classification) Rank() int {
	switch c {
	case General:
		return 1
	case Important:
		return 2
	case Core:
		return 3
	}
	return 0
}

// Validate refuses anything but the three levels.
func (c Classification) Validate() error {
	if c.Rank() == 0 {
		return fmt.Errorf("classification: must be one of general, important, core; got %q", string(c))
	}
	return nil
}
