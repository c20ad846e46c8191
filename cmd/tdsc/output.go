package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
)

// writeJSON prints v as indented JSON: the -o json output of every command.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printJSON prints v as indented JSON on the command's output.
func printJSON(cmd *cobra.Command, v any) error { return writeJSON(cmd.OutOrStdout(), v) }
