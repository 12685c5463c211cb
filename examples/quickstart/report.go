package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/llmhttp"
)

// printer narrates the run. Callbacks (breaker changes, retries, alerts)
// print from other goroutines, so lines go out whole, under a lock; while
// the live progress bar owns the terminal, lines are held and printed
// after it.
type printer struct {
	mu      sync.Mutex
	out     io.Writer
	holding bool
	held    []string
}

// section starts step n of the pipeline.
func (p *printer) section(n int, title, detail string) {
	p.line(fmt.Sprintf("\n%d %-17s %s\n", n, title, detail))
}

// event prints one indented line under a tag, such as "breaker".
func (p *printer) event(tag, format string, args ...any) {
	p.line(fmt.Sprintf("  %-8s %s\n", tag, fmt.Sprintf(format, args...)))
}

func (p *printer) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.holding {
		p.held = append(p.held, s)
		return
	}
	_, _ = io.WriteString(p.out, s)
}

// hold keeps lines back until release.
func (p *printer) hold() {
	p.mu.Lock()
	p.holding = true
	p.mu.Unlock()
}

// release prints the lines held back and stops holding.
func (p *printer) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holding = false
	for _, s := range p.held {
		_, _ = io.WriteString(p.out, s)
	}
	p.held = nil
}

// clip shortens s to at most n bytes, cut after a word and marked "...".
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := s[:n-3]
	if i := strings.LastIndexByte(cut, ' '); i > 0 {
		cut = cut[:i]
	}
	return cut + "..."
}

// meter collects what the callbacks report, for the summary. Safe for
// concurrent use.
type meter struct {
	mu          sync.Mutex
	transitions []string // "gpt-4o CLOSED->OPEN", in order
	retries     int      // transport retries
	retries429  int      // of which after a 429
	min429Wait  time.Duration
	taskRetries int // worker retries of failed task attempts
	alerts      []dlq.Alert
}

func (m *meter) transition(key string, from, to resilience.State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.transitions = append(m.transitions, fmt.Sprintf("%s %v->%v", key, from, to))
}

// retry records a retry of the transport, and whether it followed a 429.
func (m *meter) retry(e resilience.RetryEvent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.retries++
	var apiErr *llmhttp.APIError
	if errors.As(e.Err, &apiErr) && apiErr.Status == http.StatusTooManyRequests {
		if m.retries429 == 0 || e.Delay < m.min429Wait {
			m.min429Wait = e.Delay
		}
		m.retries429++
	}
}

func (m *meter) taskRetry() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.taskRetries++
}

func (m *meter) alert(a dlq.Alert) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.alerts = append(m.alerts, a)
}

// path renders key's transitions as one chain, "CLOSED->OPEN->HALF_OPEN->CLOSED",
// or "" when key had none.
func path(transitions []string, key string) string {
	var chain []string
	for _, t := range transitions {
		k, change, _ := strings.Cut(t, " ")
		if k != key {
			continue
		}
		from, to, _ := strings.Cut(change, "->")
		if len(chain) == 0 || chain[len(chain)-1] != from {
			chain = append(chain, from)
		}
		chain = append(chain, to)
	}
	return strings.Join(chain, "->")
}

// keysOf returns the breaker keys that changed state, in order of their
// first change.
func keysOf(transitions []string) []string {
	var keys []string
	for _, t := range transitions {
		k, _, _ := strings.Cut(t, " ")
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	return keys
}
