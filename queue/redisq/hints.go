package redisq

import "sync"

// hints are guesses of the ids at the head of each queue's ready list, from
// the last claim's reply. A claim passes one, with its task key, to the
// take script: when the script pops exactly that id it starts the task at
// once, so the claim costs one script instead of two (a take and a start:
// the task key must be declared before the script runs). A wrong guess
// costs nothing but the second script; hints are never trusted.
type hints struct {
	mu       sync.Mutex
	m        map[string][]string
	handed   [64]string     // the last guesses handed out, likely still in flight
	inHanded map[string]int // how many times each id is in handed
	nextSlot int
}

// maxHintQueues bounds the queues hints are kept for.
const maxHintQueues = 64

// next hands out the next guess for queue q ("" for none); each guess is
// handed out once, so concurrent claims guess different ids.
func (h *hints) next(q string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.m[q]
	if len(l) == 0 {
		return ""
	}
	h.m[q] = l[1:]
	if h.inHanded == nil {
		h.inHanded = make(map[string]int, len(h.handed))
	}
	if old := h.handed[h.nextSlot]; old != "" {
		if h.inHanded[old]--; h.inHanded[old] <= 0 {
			delete(h.inHanded, old)
		}
	}
	h.handed[h.nextSlot] = l[0]
	h.inHanded[l[0]]++
	h.nextSlot = (h.nextSlot + 1) % len(h.handed)
	return l[0]
}

// set replaces the guesses for queue q with ids (the head of its ready
// list after a claim took from it), leaving out those handed out lately:
// claims in flight guess them already, so the next claims guess the ids
// after them.
func (h *hints) set(q string, ids []any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := make([]string, 0, len(ids))
	for _, v := range ids {
		if id, ok := v.(string); ok && h.inHanded[id] == 0 {
			l = append(l, id)
		}
	}
	if h.m == nil {
		h.m = make(map[string][]string)
	}
	if _, ok := h.m[q]; !ok && len(h.m) >= maxHintQueues {
		clear(h.m)
	}
	h.m[q] = l
}
