package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// termBar is a progress bar with rate and ETA on stderr, shown only when
// stderr is a terminal (and the command was not asked for --json); in a
// pipe, a log or a test it shows nothing. Lines printed through it go to
// stdout, above the bar. It is safe for concurrent use.
type termBar struct {
	mu  sync.Mutex
	bar *progressbar.ProgressBar
	// ttyOut: stdout is a terminal too, so a line is printed over the bar.
	ttyOut bool
}

// newTermBar returns a bar counting to max units (max < 0: unknown, a
// spinner with a count); show false or a stderr that is no terminal give
// a bar that draws nothing.
func newTermBar(show bool, max int64, description, unit string) *termBar {
	b := &termBar{ttyOut: term.IsTerminal(int(os.Stdout.Fd()))}
	if !show || !term.IsTerminal(int(os.Stderr.Fd())) {
		return b
	}
	b.bar = progressbar.NewOptions64(max,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetDescription(description),
		progressbar.OptionSetItsString(unit),
		progressbar.OptionShowIts(),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetRenderBlankState(true),
	)
	return b
}

// add counts n more units done.
func (b *termBar) add(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		_ = b.bar.Add(n) // only fails writing to the terminal
	}
}

// describe changes the text before the bar (e.g. a byte rate).
func (b *termBar) describe(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil {
		b.bar.Describe(s)
	}
}

// println prints a line on stdout, above the bar when both are on the
// terminal.
func (b *termBar) println(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar != nil && b.ttyOut {
		_ = b.bar.Clear()
		fmt.Printf(format+"\n", args...)
		_ = b.bar.RenderBlank()
		return
	}
	fmt.Printf(format+"\n", args...)
}

// finish fills the bar (err nil) or leaves it where it stopped, and ends
// its line.
func (b *termBar) finish(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bar == nil {
		return
	}
	if err == nil {
		_ = b.bar.Finish()
	} else {
		_ = b.bar.Exit()
	}
	fmt.Fprintln(os.Stderr)
}
