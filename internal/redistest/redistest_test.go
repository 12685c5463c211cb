package redistest

import (
	"testing"

	"go.uber.org/goleak"
)

func TestStartKillRestart(t *testing.T) {
	s := Start(t, Options{AppendOnly: true})
	if err := ping(s.Addr); err != nil {
		t.Fatalf("got %v, want PONG", err)
	}
	if !s.Private() {
		t.Skip("shared server: kill and restart not testable")
	}
	s.Kill()
	if err := ping(s.Addr); err == nil {
		t.Fatal("got PONG from a killed server, want an error")
	}
	s.Restart()
	if err := ping(s.Addr); err != nil {
		t.Fatalf("after restart: got %v, want PONG", err)
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
