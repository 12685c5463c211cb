package main

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progressView shows a task's progress: update with each report, done at
// the end (whether or not it reached the total).
type progressView interface {
	update(current, total int64)
	done()
}

// newProgressView returns a live bar for a terminal, and plain lines (one
// per quarter) for anything else, such as a log file or CI.
func newProgressView(out io.Writer, live bool, label string) progressView {
	if live {
		return &barView{out: out, label: label}
	}
	return &lineView{out: out, label: label}
}

// barView draws a live bar with schollz/progressbar, created at the first
// update, when the total is known.
type barView struct {
	out      io.Writer
	label    string
	bar      *progressbar.ProgressBar
	finished bool // the bar reached its total and ended its line
}

func (b *barView) update(current, total int64) {
	if b.bar == nil {
		b.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(b.out),
			progressbar.OptionSetDescription(fmt.Sprintf("  %-8s", b.label)),
			progressbar.OptionSetWidth(32),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("docs"),
			progressbar.OptionThrottle(50*time.Millisecond),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionOnCompletion(func() {
				b.finished = true
				fmt.Fprintln(b.out)
			}),
		)
	}
	_ = b.bar.Set64(current)
}

func (b *barView) done() {
	if b.bar != nil && !b.finished {
		_ = b.bar.Exit() // keeps the bar where it stopped and ends its line
	}
}

// lineView prints a line at 0% and at each quarter of the total reached.
type lineView struct {
	out   io.Writer
	label string
	next  int64 // the next quarter to print, 0 to 4; 5 when all printed
	last  int64
	total int64
}

func (l *lineView) update(current, total int64) {
	l.last, l.total = current, total
	if l.next > 4 || current*4 < l.next*total {
		return
	}
	l.print(current, total)
	for l.next <= 4 && current*4 >= l.next*total {
		l.next++
	}
}

func (l *lineView) print(current, total int64) {
	fmt.Fprintf(l.out, "  %-8s %*d/%d docs %3d%%\n", l.label, len(fmt.Sprint(total)), current, total, 100*current/total)
}

func (l *lineView) done() {
	if l.total > 0 && l.next <= 4 { // stopped short: say where
		l.print(l.last, l.total)
	}
}
