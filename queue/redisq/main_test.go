package redisq

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// broker, subscription, worker and client a test starts must be stopped.
// No go-redis goroutine needs to be ignored: closing the client stops them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
