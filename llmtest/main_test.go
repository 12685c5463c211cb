package llmtest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine outlives them: a
// closed Server must leave none behind, even with requests held by faults.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
