package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/resilience-go/resilience"
	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/llmhttp"
	"github.com/resilience-go/resilience/llmtest"
	"github.com/resilience-go/resilience/queue"
)

// runTimeout bounds a whole run, so that a bug cannot hang it.
const runTimeout = 2 * time.Minute

// env is everything a run starts: the fake provider, the resilient LLM
// client, the broker with its workers, and the task API.
type env struct {
	cfg      Config
	start    time.Time
	p        *printer
	m        *meter
	provider *llmtest.Server
	faults   *faults
	llm      *llmClient
	breakers *resilience.BreakerGroup

	broker      queue.Broker
	closeBroker func()
	client      *queue.Client
	store       dlq.Store
	alerts      dlq.AlertConfig // the workers' alerting, which the dashboard shows
	workers     []*queue.Worker
	stopWorkers func()

	api      *apiClient
	stopAPI  func()
	brokerIs string // how the header names the broker
}

// run runs the whole pipeline on cfg, narrates it to cfg.Out, and returns
// its summary. With cfg.Serve it then keeps the task API, its dashboard
// and the workers up until ctx ends, and returns the summary with a nil
// error once they have stopped. It stops everything it started before it
// returns; when ctx ends before the summary it returns ctx's error.
func run(ctx context.Context, cfg Config) (Summary, error) {
	if err := cfg.validate(); err != nil {
		return Summary{}, err
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, runTimeout, fmt.Errorf("the run took longer than %v", runTimeout))
	defer cancel()
	e, err := setup(runCtx, cfg)
	if err != nil {
		return Summary{}, err
	}
	defer e.close()
	e.header()

	var out outcome
	steps := []func(context.Context, *outcome) error{e.chats, e.embedding, e.poison, e.streaming}
	for _, step := range steps {
		if err := step(runCtx, &out); err != nil {
			if cerr := context.Cause(runCtx); cerr != nil {
				return Summary{}, cerr
			}
			return Summary{}, err
		}
	}
	s, err := e.summarize(runCtx, out)
	if err != nil {
		return Summary{}, err
	}
	if !cfg.Serve {
		e.close()
	}
	s.Wall = time.Since(e.start)
	e.printSummary(s)
	if cfg.Serve {
		e.serve(ctx) // the run's own bound no longer applies
	} else {
		fmt.Fprintf(cfg.Out, "\nThe task API and its dashboard have stopped with the run; -serve keeps them up after it.\n")
	}
	return s, nil
}

// setup starts the provider, the transport, the broker, the workers and
// the task API.
func setup(ctx context.Context, cfg Config) (_ *env, err error) {
	e := &env{cfg: cfg, p: &printer{out: cfg.Out}, m: &meter{}, start: time.Now()}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	if e.provider, e.faults, err = newProvider(cfg); err != nil {
		return nil, err
	}
	if e.llm, err = e.newLLMClient(); err != nil {
		return nil, err
	}
	if cfg.RedisAddr == "" {
		b := queue.NewMemoryBroker()
		e.broker, e.store, e.closeBroker = b, dlq.NewMemoryStore(), func() { _ = b.Close() }
		e.brokerIs = "in-memory broker"
	} else if err = e.useRedis(ctx); err != nil {
		return nil, err
	}
	e.client = queue.NewClient(e.broker)
	if err = e.newWorkers(); err != nil {
		return nil, err
	}
	if err = e.startAPI(); err != nil {
		return nil, err
	}
	return e, nil
}

// newLLMClient builds the resilient transport: a rate limiter a little
// under the provider's limits, one breaker per model, retries with
// jittered backoff that honour Retry-After, and an attempt timeout.
func (e *env) newLLMClient() (*llmClient, error) {
	rpm := e.cfg.RequestsPerMinute
	limiter, err := resilience.NewRateLimiter(resilience.RateLimit{
		RequestsPerMinute: rpm, RequestBurst: rpm / 60, // one second's share at once
		TokensPerMinute: 1_600_000,
	})
	if err != nil {
		return nil, err
	}
	e.breakers, err = resilience.NewBreakerGroup(resilience.BreakerGroupConfig{
		Breaker: resilience.BreakerConfig{
			FailureThreshold: breakerThreshold, RecoveryTimeout: e.cfg.BreakerRecovery, HalfOpenMaxCalls: 1,
		},
		OnStateChange: func(model string, from, to resilience.State) {
			e.m.transition(model, from, to)
			if model == primaryModel && to == resilience.StateOpen {
				e.faults.breakerOpened()
			}
			e.p.event("breaker", "%s %v -> %v at +%.2fs", model, from, to, time.Since(e.start).Seconds())
		},
	})
	if err != nil {
		return nil, err
	}
	t, err := llmhttp.NewTransport(llmhttp.Config{
		Base: e.provider.Transport(),
		Retry: resilience.RetryPolicy{
			MaxAttempts: 3, BaseDelay: e.cfg.RetryBase, MaxDelay: 10 * e.cfg.RetryBase,
			OnRetry: e.m.retry,
		},
		Breakers:               e.breakers,
		BreakerKey:             func(_ *http.Request, model string) string { return model },
		Limiter:                limiter,
		AttemptTimeout:         e.cfg.AttemptTimeout,
		StreamFirstByteTimeout: e.cfg.AttemptTimeout,
		StreamIdleTimeout:      e.cfg.AttemptTimeout,
		ReturnErrors:           true, // no SDK here to build its own error from the response
	})
	if err != nil {
		return nil, err
	}
	return &llmClient{http: &http.Client{Transport: t}, base: e.provider.URL}, nil
}

// newWorkers makes one worker of 4 slots on the in-memory broker, or two of
// 2 slots on Redis (two pools, as two machines would run). They retry a
// failed attempt twice, and alert on the first failure of a task name for
// the demo (the default is 10 within an hour). Step 1 starts them.
func (e *env) newWorkers() error {
	pools, slots := 1, 4
	if e.cfg.RedisAddr != "" {
		pools, slots = 2, 2
	}
	discard := slog.New(slog.DiscardHandler)
	cfg := queue.WorkerConfig{
		Concurrency: slots,
		Retry: resilience.RetryPolicy{
			MaxAttempts: 3, BaseDelay: e.cfg.RetryBase, MaxDelay: 10 * e.cfg.RetryBase, Jitter: resilience.JitterEqual,
			OnRetry: func(ev resilience.RetryEvent) {
				e.m.taskRetry()
				e.p.event("retry", "attempt %d failed (%s); next in %v", ev.Attempt, clip(ev.Err.Error(), 56), ev.Delay.Round(time.Millisecond))
			},
		},
		DeadLetters: e.store,
		Alerts: dlq.AlertConfig{
			Threshold: 1, Window: time.Hour, Logger: discard,
			OnAlert: func(a dlq.Alert) {
				e.m.alert(a)
				e.p.event("ALERT", "task %q reached the failure threshold: %d failure(s) within %v (1 for the demo, 10 by default)",
					a.TaskName, a.Count, a.Window)
			},
		},
		Logger: discard,
	}
	e.alerts = cfg.Alerts
	for range pools {
		w, err := queue.NewWorker(e.broker, cfg)
		if err != nil {
			return err
		}
		w.Handle(taskChat, chatHandler(e.llm, e.cfg.PrimaryBudget))
		w.Handle(taskEmbed, embedHandler(e.llm, e.cfg.EmbedParallel))
		w.Handle(taskExtract, extractHandler(e.llm, false))
		e.workers = append(e.workers, w)
	}
	return nil
}

// startWorkers runs the workers until close.
func (e *env) startWorkers() {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	e.stopWorkers = func() {
		cancel()
		wg.Wait()
	}
	for _, w := range e.workers {
		wg.Go(func() {
			if err := w.Run(ctx); err != nil {
				e.p.event("error", "worker: %v", err)
			}
		})
	}
}

// close stops what setup started, in reverse order. It may be called more
// than once.
func (e *env) close() {
	for _, stop := range []*func(){&e.stopWorkers, &e.stopAPI, &e.closeBroker} {
		if *stop != nil {
			(*stop)()
			*stop = nil
		}
	}
	if e.provider != nil {
		e.provider.Close()
		e.provider = nil
	}
}

// header prints what runs where.
func (e *env) header() {
	c := e.cfg
	pools := "1 worker of 4 slots"
	if len(e.workers) > 1 {
		pools = fmt.Sprintf("%d workers of 2 slots", len(e.workers))
	}
	fmt.Fprintf(c.Out, "Resilient AI pipeline, offline (seed %d)\n", c.Seed)
	fmt.Fprintf(c.Out, "  provider  %s  fake OpenAI API (llmtest), %v-%v per request; at random %.0f%% 429s,\n",
		e.provider.URL, c.Latency/4, c.Latency, 100*c.FaultRate/2)
	fmt.Fprintf(c.Out, "            %.0f%% 5xx and %.0f%% past the attempt timeout; a scripted storm of 503s on %s\n",
		100*c.FaultRate/2, 100*c.SlowRate, primaryModel)
	fmt.Fprintf(c.Out, "  client    llmhttp: %d requests/min, 3 attempts honouring Retry-After, breaker per model (opens after %d failures)\n",
		c.RequestsPerMinute, breakerThreshold)
	fmt.Fprintf(c.Out, "  task API  %s  POST /tasks/{name}, GET /tasks/{id}[/events], /dead-letters\n", e.api.base)
	fmt.Fprintf(c.Out, "  dashboard %s  %s\n", e.dashboardURL(), e.dashboardNote())
	fmt.Fprintf(c.Out, "  workers   %s on the %s, queues high > default > low\n", pools, e.brokerIs)
}
