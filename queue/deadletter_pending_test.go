package queue

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParsePending checks that the Error of a task waiting for its dead
// letter gives back the try count and the task's own error it was built
// from, whatever that error says, and that other errors are not taken for
// one.
func FuzzParsePending(f *testing.F) {
	f.Add(1, "bad input")
	f.Add(7, "queue: dead letter not recorded yet, tries 2: x")
	f.Add(3, "")
	f.Add(0, "a: b")
	f.Fuzz(func(t *testing.T, tries int, cause string) {
		msg := fmt.Sprintf("%s%d: %s", deadLetterPending, tries, cause)
		n, got, ok := parsePending(msg)
		if tries < 1 {
			if ok {
				t.Fatalf("parsePending(%q) = %d, %q, true; want false for tries %d", msg, n, got, tries)
			}
			return
		}
		if !ok || n != tries || got != cause {
			t.Fatalf("parsePending(%q) = %d, %q, %v; want %d, %q, true", msg, n, got, ok, tries, cause)
		}
		if !strings.HasPrefix(cause, deadLetterPending) && isDeadLetterPending(cause) {
			t.Fatalf("isDeadLetterPending(%q) = true for an error without the prefix", cause)
		}
	})
}
