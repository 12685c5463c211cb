package demo

import (
	"testing"
)

// CheckLedger fails t unless the SDK made calls requests, the transport
// sent sent attempts for them, the server received exactly those attempts,
// and none of them was a retry of the SDK's own (X-Stainless-Retry-Count
// above 0): retries happened once, in the transport, and did not multiply.
func CheckLedger(t testing.TB, r Result, calls, sent int) {
	t.Helper()
	if r.Calls != calls {
		t.Errorf("the SDK made %d requests to the transport, want %d", r.Calls, calls)
	}
	if r.Sent != sent {
		t.Errorf("the transport reports %d attempts sent, want %d", r.Sent, sent)
	}
	if r.Stats.Requests != r.Sent {
		t.Errorf("the server received %d requests, but the transport sent %d attempts", r.Stats.Requests, r.Sent)
	}
	if r.Stats.SDKRetries != 0 {
		t.Errorf("the server saw %d retries made by the SDK itself (X-Stainless-Retry-Count %v), want 0",
			r.Stats.SDKRetries, r.Stats.RetryCounts)
	}
}
