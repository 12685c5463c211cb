// Package bench measures resilience against its peers on the same
// workloads, in one run: sony/gobreaker, failsafe-go, cenkalti/backoff,
// avast/retry-go, golang.org/x/sync/errgroup and sourcegraph/conc.
//
// It is a separate module so the library's go.mod does not carry the peers.
// Run the side-by-side table with
//
//	go run ./cmd/compare
//
// or single benchmarks with go test -bench . -benchmem.
package bench
