package redisq

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultPrefix is the key prefix used when [Options.Prefix] is empty.
const DefaultPrefix = "resilience"

// Options configure a [Broker] and a [DeadLetterStore]. The zero value is
// usable. Give a broker and the store its workers use the same Options, so
// that their keys share one hash tag (and so one Redis Cluster slot).
type Options struct {
	// Prefix names the key space: every key is "{Prefix}:...", the braces
	// making Prefix the Redis Cluster hash tag, so that all keys of one
	// prefix live in one slot and every Lua script may touch all of them.
	// Brokers with the same prefix share their queues, leases, results and
	// dead letters; different prefixes are independent. Empty means
	// DefaultPrefix ("resilience"). A prefix containing '{' or '}' would
	// break the hash tag: NewBroker and NewDeadLetterStore accept it, and
	// every call then returns an error wrapping the invalid-argument
	// sentinel of its package.
	Prefix string
}

// ErrCorruptTask is wrapped by the error of [Broker.Get] and
// [Broker.Enqueue] for a task whose data in Redis does not decode (a field
// written by something other than this package). A worker never sees such a
// task: [Broker.Claim] fails it into the dead letters and moves on.
var ErrCorruptTask = errors.New("redisq: task data in Redis does not decode")

// keys is the key layout of one prefix; see the package documentation.
type keys struct {
	tag        string  // "{prefix}"
	task       string  // task hash prefix: task + id
	queue      string  // queue key prefix: queue + name + ":ready" | ":wake" | ...
	queues     string  // SET of the names of queues that ever held a task or were paused
	paused     string  // SET of the names of paused queues
	leases     string  // ZSET id -> lease expiry (µs)
	scan       string  // SCAN cursor of the reconciliation sweep
	wake       string  // prefix of the private wake-up lists of blocked claims
	claim      string  // prefix of the claim records: claim + token -> task id
	changed    string  // pub/sub channel: task ids that changed
	dlqOrder   string  // ZSET task id -> push sequence
	dlqEntries string  // HASH task id -> entry JSON
	dlqSeq     string  // counter of dead-letter pushes
	dlqFail    string  // prefix of the failure counters
	qc         *qcache // the keys of queues by name (nil in the zero keys)
}

// newKeys returns the key layout of prefix, or an error when the prefix
// cannot serve as a hash tag.
func newKeys(prefix string) (keys, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return keys{}, fmt.Errorf("Options.Prefix %q contains '{' or '}'; want a prefix without braces (it becomes the hash tag {%s})",
			prefix, strings.NewReplacer("{", "", "}", "").Replace(prefix))
	}
	tag := "{" + prefix + "}"
	return keys{
		tag:        tag,
		task:       tag + ":task:",
		queue:      tag + ":queue:",
		queues:     tag + ":queues",
		paused:     tag + ":paused",
		leases:     tag + ":leases",
		scan:       tag + ":scan",
		wake:       tag + ":wake:",
		claim:      tag + ":claim:",
		changed:    tag + ":changed",
		dlqOrder:   tag + ":dlq:order",
		dlqEntries: tag + ":dlq:entries",
		dlqSeq:     tag + ":dlq:seq",
		dlqFail:    tag + ":dlq:fail:",
		qc:         &qcache{},
	}, nil
}

// claimRec returns the key of the claim record of token. The empty token,
// which holds nothing, gets a key of its own rather than the bare prefix.
func (k keys) claimRec(token string) string {
	if token == "" {
		token = "-"
	}
	return k.claim + token
}

func (k keys) wakeList(q string) string { return k.queue + q + ":wake" }

// idxStates are the states of the per-queue indexes, in the order their
// keys are passed to the scripts (see luaIdx). SCHEDULED holds the PENDING
// tasks that wait for their not-before time.
var idxStates = [...]string{"PENDING", "SCHEDULED", "STARTED", "PROCESSING", "RETRY", "SUCCESS", "FAILURE", "REVOKED"}

// qkeys are the keys of one queue.
type qkeys struct {
	ready   string // LIST of ids ready to claim
	wake    string // LIST holding at most one wake-up token
	delayed string // ZSET id -> not-before (µs)
	done    string // ZSET id -> when its result expires (µs)
	idx     [len(idxStates)]string
}

// q returns the keys of queue name. The keys of the first maxCachedQueues
// names asked for are kept, so that a busy queue's calls do not build
// twelve strings each.
func (k keys) q(name string) qkeys {
	if k.qc != nil {
		if qk, ok := k.qc.m.Load(name); ok {
			return qk.(qkeys)
		}
	}
	p := k.queue + name + ":"
	qk := qkeys{ready: p + "ready", wake: p + "wake", delayed: p + "delayed", done: p + "done"}
	for i, s := range idxStates {
		qk.idx[i] = p + "idx:" + s
	}
	if k.qc != nil && k.qc.n.Load() < maxCachedQueues {
		if _, loaded := k.qc.m.LoadOrStore(name, qk); !loaded {
			k.qc.n.Add(1)
		}
	}
	return qk
}

// maxCachedQueues bounds the queue names whose keys are kept.
const maxCachedQueues = 256

// qcache holds the keys of queues by name.
type qcache struct {
	m sync.Map // name -> qkeys
	n atomic.Int64
}

// group returns the keys of the queue as the lease scripts take them:
// ready, wake, delayed, done and the indexes.
func (qk qkeys) group() []string {
	return append([]string{qk.ready, qk.wake, qk.delayed, qk.done}, qk.idx[:]...)
}

// taskPattern is the SCAN pattern matching every task hash of the prefix,
// with the glob characters of the prefix escaped.
func (k keys) taskPattern() string {
	var b strings.Builder
	for _, r := range k.task {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('*')
	return b.String()
}

// tokenPrefix makes the tokens of this process unlike those of any other
// (72 random bits); a counter makes them unique within it.
var (
	tokenPrefix = func() string {
		var b [9]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
		return base64.RawURLEncoding.EncodeToString(b[:])
	}()
	tokenSeq atomic.Uint64
)

// newToken returns a lease token (or a private key suffix) unique among
// all processes sharing a Redis.
func newToken() string {
	return tokenPrefix + strconv.FormatUint(tokenSeq.Add(1), 36)
}
