// Package progress renders a transfer's progress for a person: a one-line bar
// with bytes, rate and ETA redrawn in place on a terminal, or plain
// timestamped lines (at most one every few seconds) when output is a file or
// pipe, so logs stay readable.
package progress
