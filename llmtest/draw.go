package llmtest

import (
	"encoding/binary"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"sync"
)

// drawer makes the random draw behind [Config.Rates] a function of the
// request, not of when it arrived: request k of a kind (the same route,
// model, stream flag, max_tokens and text) draws number k of that kind's
// own stream. Concurrent callers then get the same faults however their
// requests interleave: a retry of a prompt draws the prompt's next number,
// and two different prompts never take each other's. Only identical
// requests in flight at once may swap draws, which changes no count.
type drawer struct {
	seed uint64

	mu   sync.Mutex
	seen map[uint64]uint64 // draws so far per request kind
}

func newDrawer(seed uint64) *drawer {
	return &drawer{seed: seed, seen: make(map[uint64]uint64)}
}

// draw takes req's place in its kind's stream: it sets req.Rand and
// req.draw, the number in [0, 1) that [Config.Rates] uses.
func (d *drawer) draw(req *Request) {
	kind := requestKind(req)
	d.mu.Lock()
	n := d.seen[kind]
	d.seen[kind] = n + 1
	d.mu.Unlock()
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], d.seed)
	binary.LittleEndian.PutUint64(b[8:], kind)
	binary.LittleEndian.PutUint64(b[16:], n)
	h := fnv.New64a()
	h.Write(b[:])
	x := mix64(h.Sum64())
	req.draw = float64(x>>11) / (1 << 53)
	req.Rand = rand.New(rand.NewPCG(mix64(x^0x6c6c6d74657374), mix64(x+0x9e3779b97f4a7c15))) // "llmtest", golden ratio
}

// requestKind hashes what identifies a request apart from its arrival:
// route, model, stream flag, max_tokens, messages and inputs. Headers are
// left out: an SDK's retry count header differs between attempts.
func requestKind(req *Request) uint64 {
	h := fnv.New64a()
	field := func(s string) {
		h.Write([]byte(strconv.Itoa(len(s))))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	field(string(req.Route))
	field(req.Model)
	field(strconv.FormatBool(req.Stream))
	field(strconv.Itoa(req.MaxTokens))
	for _, m := range req.Messages {
		field(m.Role)
		field(m.Content)
	}
	for _, in := range req.Input {
		field(in)
	}
	return h.Sum64()
}

// mix64 is the SplitMix64 finalizer: it spreads FNV's nearby outputs over
// all 64 bits, so the top 53 bits make a uniform draw.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
