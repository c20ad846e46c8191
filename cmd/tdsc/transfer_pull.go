package main

import (
	"fmt"
	"io"
	"os"

	"github.com/tdsc/tdsc/connector/dataplane/progress"
	"github.com/tdsc/tdsc/connector/dataplane/pull"
)

// pullBar shows a download's progress on f: a bar on a terminal, plain
// lines otherwise (a log file, CI). The download itself is client.Pull's.
type pullBar struct {
	w        io.Writer
	terminal bool
	bar      *progress.Bar
}

func newPullBar(f *os.File, out string) *pullBar {
	var w io.Writer = io.Discard
	terminal := false
	if f != nil {
		w, terminal = f, progress.IsTerminal(f)
	}
	return &pullBar{w: w, terminal: terminal, bar: progress.New(w, out, terminal)}
}

// update is the pull's progress callback.
func (b *pullBar) update(p pull.Progress) { b.bar.Update(p.Done, p.Total, p.Resumed) }

// finish closes the bar after the download ended with res and err.
func (b *pullBar) finish(res pull.Result, err error) {
	if err == nil || res.Size > 0 {
		b.bar.Finish(res.Size, res.Size)
	} else if b.terminal {
		fmt.Fprintln(b.w)
	}
}
