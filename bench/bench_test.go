package bench

import "testing"

func BenchmarkBreakerClosed(b *testing.B) {
	b.Run("resilience", BreakerClosedOurs)
	b.Run("gobreaker", BreakerClosedGobreaker)
	b.Run("failsafe-go", BreakerClosedFailsafe)
}

func BenchmarkBreakerClosedParallel(b *testing.B) {
	b.Run("resilience", BreakerClosedParallelOurs)
	b.Run("gobreaker", BreakerClosedParallelGobreaker)
}

func BenchmarkBreakerOpen(b *testing.B) {
	b.Run("resilience", BreakerOpenOurs)
	b.Run("gobreaker", BreakerOpenGobreaker)
}

func BenchmarkRetryFirstTry(b *testing.B) {
	b.Run("resilience", RetryFirstTryOurs)
	b.Run("backoff", RetryFirstTryBackoff)
	b.Run("retry-go", RetryFirstTryRetryGo)
}

func BenchmarkPipeline(b *testing.B) {
	b.Run("resilience", PipelineOurs)
	b.Run("failsafe-go", PipelineFailsafe)
}

func BenchmarkParallelTrivial(b *testing.B) {
	b.Run("resilience", ParallelTrivialOurs)
	b.Run("errgroup", ParallelTrivialErrgroup)
	b.Run("conc", ParallelTrivialConc)
	b.Run("hand-rolled", ParallelTrivialHandRolled)
}

func BenchmarkStream(b *testing.B) {
	b.Run("resilience", StreamOurs)
	b.Run("raw-channel", StreamRawChannel)
}
