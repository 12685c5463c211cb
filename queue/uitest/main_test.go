package uitest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when any goroutine outlives them: the
// browser, the server and the worker must all be stopped.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
