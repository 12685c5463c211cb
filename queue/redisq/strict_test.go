package redisq

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/resilience-go/resilience/dlq"
	"github.com/resilience-go/resilience/dlq/dlqtest"
	"github.com/resilience-go/resilience/internal/redistest"
	"github.com/resilience-go/resilience/queue"
	"github.com/resilience-go/resilience/queue/queuetest"
)

// allScripts are the package's scripts, for TestScriptsDeclareKeys to swap
// for checked copies. The test fails when one is missing here.
var allScripts = []**redis.Script{
	&enqueueScript, &takeScript, &startScript, &completeTakeScript,
	&renewScript, &progressScript, &completeScript, &failScript, &retryScript, &releaseScript,
	&poisonScript, &cancelScript, &pauseScript, &dueScript, &expireScript, &healScript, &sweepDoneScript, &statsScript,
	&countScript, &dlqPushScript, &dlqPopScript, &dlqListScript, &dlqDeleteScript,
}

// luaStrict checks, before each Redis call of a script, that every key the
// call touches is one of the script's KEYS, that no KEYS entry is a mere
// prefix (ending in ':'), and that the command is one whose keys it knows
// how to find; it raises a script error otherwise.
const luaStrict = `
local __declared = {}
for _, k in ipairs(KEYS) do
  if string.sub(k, -1) == ':' then error('KEYS entry ' .. k .. ' is a prefix, not a key') end
  __declared[k] = true
end
-- The number of leading key arguments of each command the scripts use;
-- -1: every argument is a key.
local __keys = {TIME = 0, PUBLISH = 0, DEL = -1, EXISTS = -1,
  GET = 1, SET = 1, INCR = 1, PEXPIRE = 1, PEXPIREAT = 1,
  HGET = 1, HSET = 1, HMGET = 1, HDEL = 1, HGETALL = 1, HINCRBY = 1, HKEYS = 1,
  ZADD = 1, ZREM = 1, ZRANGE = 1, ZRANGEBYSCORE = 1, ZSCORE = 1, ZPOPMIN = 1, ZCARD = 1,
  LPOP = 1, RPUSH = 1, LPUSH = 1, LLEN = 1, LRANGE = 1, SADD = 1, SREM = 1, SISMEMBER = 1}
local function __check(cmd, ...)
  local n = __keys[string.upper(cmd)]
  if not n then error('command ' .. cmd .. ' is not in the strict list') end
  local args = {...}
  if n < 0 then n = #args end
  for i = 1, n do
    if not __declared[args[i]] then error('undeclared key ' .. tostring(args[i]) .. ' in ' .. cmd) end
  end
end
local function __call(...)
  __check(...)
  return redis.call(...)
end
local function __pcall(...)
  __check(...)
  return redis.pcall(...)
end
`

// strictScripts swaps every script for a checked copy until the test ends.
func strictScripts(t *testing.T) {
	t.Helper()
	if len(allScripts) != len(scriptSrc) {
		t.Fatalf("allScripts lists %d scripts, the package has %d: add the new ones", len(allScripts), len(scriptSrc))
	}
	saved := make([]*redis.Script, len(allScripts))
	for i, p := range allScripts {
		saved[i] = *p
		src, ok := scriptSrc[*p]
		if !ok {
			t.Fatalf("script %d has no recorded source", i)
		}
		src = strings.NewReplacer("redis.call(", "__call(", "redis.pcall(", "__pcall(").Replace(src)
		*p = redis.NewScript(luaStrict + src)
	}
	t.Cleanup(func() {
		for i, p := range allScripts {
			*p = saved[i]
		}
	})
}

// TestScriptsDeclareKeys runs the queue and dead-letter conformance suites
// with every script checked: a script that touches a key it was not given
// in KEYS (one it built from a prefix, say) fails with a script error. So
// the scripts run where declared keys are enforced.
func TestScriptsDeclareKeys(t *testing.T) {
	strictScripts(t)
	srv := redistest.Start(t, redistest.Options{})
	rdb := newClient(t, srv)
	t.Run("CheckerCatchesUndeclared", func(t *testing.T) {
		s := redis.NewScript(luaStrict + `return __call('GET', KEYS[1] .. 'x')`)
		err := s.Run(ctxFor(t, 10*time.Second), rdb, []string{"{strict}:a"}).Err()
		if err == nil || !strings.Contains(err.Error(), "undeclared key") {
			t.Fatalf("a script reading an undeclared key: got %v, want an undeclared key error", err)
		}
	})
	t.Run("Queue", func(t *testing.T) {
		queuetest.Run(t, func(t *testing.T) queue.Broker {
			b, _ := newBroker(t, rdb)
			return b
		})
	})
	t.Run("DeadLetters", func(t *testing.T) {
		dlqtest.Run(t, func(t *testing.T) dlq.Store {
			return NewDeadLetterStore(rdb, Options{Prefix: uniquePrefix(t)})
		})
	})
	t.Run("Recover", func(t *testing.T) {
		b, _ := newBroker(t, rdb)
		ctx := ctxFor(t, 10*time.Second)
		mustEnqueue(t, b, "a", "default", time.Time{})
		if _, _, err := b.Claim(ctx, []string{"default"}, time.Millisecond); err != nil {
			t.Fatalf("Claim: %v", err)
		}
		time.Sleep(5 * time.Millisecond) // let the lease run out
		if n, err := b.Recover(ctx); err != nil || n != 1 {
			t.Fatalf("Recover: got %d, %v; want 1 task recovered", n, err)
		}
		if _, err := NewDeadLetterStore(rdb, Options{Prefix: uniquePrefix(t)}).CountFailure(ctx, "x", time.Second); err != nil {
			t.Fatalf("CountFailure: %v", err)
		}
	})
}
