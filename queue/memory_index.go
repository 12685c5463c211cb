package queue

import (
	"math/bits"
	"math/rand/v2"
)

// The counts and indexes behind [MemoryBroker]'s Stats and List. Every
// state change of an entry ends in trackLocked, which moves the entry's
// count from its old class to its new one and, when its state changed,
// moves it from one per-queue, per-state index to another: O(1) counts and
// an O(1) expected index update for the usual newest-task case (O(log n)
// at worst), with no allocation after the task's first index insertion.

// class is what a task counts as in [QueueStats]: its state, with PENDING
// split into claimable and delayed.
type class int8

const (
	classNone class = iota // not tracked
	classPending
	classScheduled
	classStarted
	classProcessing
	classRetry
	classSuccess
	classFailure
	classRevoked
	numClasses
)

// classState maps a class to the slot of its state's index in
// queueInfo.idx (the state's place in [States]); -1 for classNone.
var classState = [numClasses]int8{-1, 0, 0, 1, 2, 3, 4, 5, 6}

const numStates = 7

// queueInfo is what the broker keeps per queue: counts by class, the pause
// mark, and one index per state.
type queueInfo struct {
	name   string
	paused bool
	total  int64
	counts [numClasses]int64
	idx    [numStates]taskIndex
}

// classLocked returns the class of e as it is now.
func (m *MemoryBroker) classLocked(e *entry) class {
	switch e.t.State {
	case StatePending:
		if e.hi >= 0 && e.hi < len(m.delayed) && m.delayed[e.hi] == e {
			return classScheduled
		}
		return classPending
	case StateStarted:
		return classStarted
	case StateProcessing:
		return classProcessing
	case StateRetry:
		return classRetry
	case StateSuccess:
		return classSuccess
	case StateFailure:
		return classFailure
	case StateRevoked:
		return classRevoked
	}
	return classNone
}

// queueLocked returns the queueInfo of name, made on first use.
func (m *MemoryBroker) queueLocked(name string) *queueInfo {
	qi := m.queues[name]
	if qi == nil {
		qi = &queueInfo{name: name}
		m.queues[name] = qi
	}
	return qi
}

// trackLocked brings the counts and indexes in step with e after a change.
func (m *MemoryBroker) trackLocked(e *entry) {
	c := m.classLocked(e)
	if c == e.cls {
		return
	}
	qi := e.qi
	if qi == nil {
		qi = m.queueLocked(e.t.Queue)
		e.qi = qi
	}
	if e.cls != classNone {
		qi.counts[e.cls]--
		qi.total--
	}
	qi.counts[c]++
	qi.total++
	if from, to := classState[e.cls], classState[c]; from != to {
		if from >= 0 {
			qi.idx[from].remove(e)
		}
		qi.idx[to].insert(e)
	}
	e.cls = c
}

// untrackLocked drops e, which the broker no longer holds, from the counts
// and indexes; a queue left without tasks is forgotten unless paused.
func (m *MemoryBroker) untrackLocked(e *entry) {
	if e.cls == classNone {
		return
	}
	qi := e.qi
	qi.counts[e.cls]--
	qi.total--
	qi.idx[classState[e.cls]].remove(e)
	e.cls = classNone
	if qi.total == 0 && !qi.paused {
		delete(m.queues, qi.name)
	}
}

// idxMaxLevel bounds the height of the index's skip list; with a level
// probability of 1/4 it serves 4^16 tasks before searches slow down.
const idxMaxLevel = 16

// idxNode is an entry's place in a taskIndex: its key and its links. Level
// 0 links are inline; the 1 in 4 entries that reach higher levels get a
// slice, so most entries cost no allocation.
type idxNode struct {
	qi   *queueInfo // the task's queue, kept from its first tracking
	cls  class      // counted class; classNone when untracked
	enq  int64      // EnqueuedAt in Unix nanoseconds: the index key
	h    int8       // height in the skip list, 0 before the first insertion
	link [2]*entry  // level 0: next (older), prev (newer)
	up   []*entry   // levels 1..h-1: next at 2(i-1), prev at 2(i-1)+1
}

func (n *idxNode) next(i int) *entry {
	if i == 0 {
		return n.link[0]
	}
	return n.up[2*(i-1)]
}

func (n *idxNode) prev(i int) *entry {
	if i == 0 {
		return n.link[1]
	}
	return n.up[2*(i-1)+1]
}

func (n *idxNode) setNext(i int, e *entry) {
	if i == 0 {
		n.link[0] = e
	} else {
		n.up[2*(i-1)] = e
	}
}

func (n *idxNode) setPrev(i int, e *entry) {
	if i == 0 {
		n.link[1] = e
	} else {
		n.up[2*(i-1)+1] = e
	}
}

// newer reports whether a comes before b in the index: a later EnqueuedAt,
// or the same one and a greater id.
func newer(a, b *entry) bool {
	if a.enq != b.enq {
		return a.enq > b.enq
	}
	return a.t.ID > b.t.ID
}

// taskIndex is a doubly linked skip list of entries, newest first. Inserting
// a task newer than all others (the usual case: tasks are indexed about in
// the order they were enqueued) stops at the head at every level; removal
// unlinks through the prev links without a search.
type taskIndex struct {
	head  entry // sentinel; its up holds idxMaxLevel-1 levels
	level int   // levels in use
	n     int
}

func (x *taskIndex) init() {
	if x.head.h == 0 {
		x.head.h = idxMaxLevel
		x.head.up = make([]*entry, 2*(idxMaxLevel-1))
		x.level = 1
	}
}

// randomHeight draws a height with P(h > k) = 4^-k.
func randomHeight() int8 {
	h := 1 + bits.TrailingZeros64(rand.Uint64())/2
	return int8(min(h, idxMaxLevel))
}

// insert links e, which is in no index, in its place.
func (x *taskIndex) insert(e *entry) {
	x.init()
	if e.h == 0 {
		e.h = randomHeight()
		if e.h > 1 {
			e.up = make([]*entry, 2*(e.h-1))
		}
	}
	h := int(e.h)
	if h > x.level {
		x.level = h
	}
	p := &x.head
	for i := x.level - 1; i >= 0; i-- {
		for nx := p.next(i); nx != nil && newer(nx, e); nx = p.next(i) {
			p = nx
		}
		if i < h {
			nx := p.next(i)
			e.setNext(i, nx)
			e.setPrev(i, p)
			p.setNext(i, e)
			if nx != nil {
				nx.setPrev(i, e)
			}
		}
	}
	x.n++
}

// remove unlinks e, which must be in x.
func (x *taskIndex) remove(e *entry) {
	for i := range int(e.h) {
		p, nx := e.prev(i), e.next(i)
		p.setNext(i, nx)
		if nx != nil {
			nx.setPrev(i, p)
		}
		e.setNext(i, nil)
		e.setPrev(i, nil)
	}
	x.n--
}

// first returns the newest entry, or nil.
func (x *taskIndex) first() *entry {
	if x.head.h == 0 {
		return nil
	}
	return x.head.next(0)
}
