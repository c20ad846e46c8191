// Command rawrows is the hostile example of tdsc's sandbox demo: it copies its
// input, row by row, to its output, as a program trying to take the data
// itself out would. The provider's output rule (aggregate-only, minimum group
// size) refuses its result, and no byte of it leaves (docs/sandbox.md).
package main

import (
	"io"
	"os"
)

func main() {
	if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
		os.Exit(1)
	}
}
