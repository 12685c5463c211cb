package dlq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

var _ Store = (*MemoryStore)(nil)

// MemoryStore is an in-process [Store]: a doubly linked list in push order
// indexed by task id, plus per-name failure counters. It is safe for
// concurrent use; its zero value is an empty store ready to use, and
// [NewMemoryStore] returns one. Entries live until popped or deleted, so a
// store that is never drained grows without bound.
//
// Push, Get and Delete take O(1) time, Pop(n) O(n), List(offset, limit)
// O(offset+limit) and Len O(1). Entries are copied in and out (the Payload
// bytes included), so callers may reuse or modify what they pass and get.
//
// Methods check ctx only on entry: the in-memory operations never block on
// anything but a short internal lock.
type MemoryStore struct {
	mu   sync.Mutex
	byID map[string]*node
	// head is the oldest entry, tail the newest; both nil when empty.
	head, tail *node

	// counts holds the failure counters; see failures.go.
	counts map[countKey]windowCount
	// sweepAt is the size of counts that triggers the next sweep of
	// counters whose window has ended.
	sweepAt int
}

// node is one entry in the push-order list.
type node struct {
	entry      Entry
	prev, next *node
}

// NewMemoryStore returns an empty [MemoryStore].
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{}
}

// cloneEntry returns e with its own copy of the Payload bytes, so the store
// and its callers never share a backing array.
func cloneEntry(e Entry) Entry {
	if e.Payload != nil {
		e.Payload = json.RawMessage(bytes.Clone(e.Payload))
	}
	return e
}

// Push stores e as the newest entry, or replaces the contents of the entry
// with the same TaskID in place, keeping its position. It returns an error
// wrapping [ErrInvalidArgument] when e.TaskID is empty, and ctx's error when
// ctx is already done.
func (s *MemoryStore) Push(ctx context.Context, e Entry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if e.TaskID == "" {
		return invalid("Entry.TaskID must not be empty")
	}
	e = cloneEntry(e)

	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.byID[e.TaskID]; ok {
		n.entry = e
		return nil
	}
	if s.byID == nil {
		s.byID = make(map[string]*node)
	}
	n := &node{entry: e, prev: s.tail}
	if s.tail == nil {
		s.head = n
	} else {
		s.tail.next = n
	}
	s.tail = n
	s.byID[e.TaskID] = n
	return nil
}

// unlinkLocked removes n from the list and the index. s.mu must be held.
func (s *MemoryStore) unlinkLocked(n *node) {
	if n.prev == nil {
		s.head = n.next
	} else {
		n.prev.next = n.next
	}
	if n.next == nil {
		s.tail = n.prev
	} else {
		n.next.prev = n.prev
	}
	n.prev, n.next = nil, nil
	delete(s.byID, n.entry.TaskID)
}

// Pop removes and returns up to n entries, oldest first. An empty store
// returns an empty, non-nil slice. n < 1 returns an error wrapping
// [ErrInvalidArgument]; a done ctx returns ctx's error and removes nothing.
func (s *MemoryStore) Pop(ctx context.Context, n int) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, invalid("Pop batch size n must be >= 1, got %d", n)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, min(n, len(s.byID)))
	for len(out) < n && s.head != nil {
		h := s.head
		s.unlinkLocked(h)
		// The node is gone from the store, so its copy can be handed out.
		out = append(out, h.entry)
	}
	return out, nil
}

// List returns up to limit entries after skipping the offset oldest ones,
// oldest first, without removing them. limit 0 (there is no default page
// size) or an offset at or past Len returns an empty, non-nil slice. A
// negative offset or limit returns an error wrapping [ErrInvalidArgument].
func (s *MemoryStore) List(ctx context.Context, offset, limit int) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if offset < 0 {
		return nil, invalid("List offset must be >= 0, got %d", offset)
	}
	if limit < 0 {
		return nil, invalid("List limit must be >= 0, got %d", limit)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if offset >= len(s.byID) {
		return []Entry{}, nil
	}
	out := make([]Entry, 0, min(limit, len(s.byID)-offset))
	cur := s.head
	for range offset {
		cur = cur.next
	}
	for ; cur != nil && len(out) < limit; cur = cur.next {
		out = append(out, cloneEntry(cur.entry))
	}
	return out, nil
}

// Get returns a copy of the entry stored under taskID, or an error wrapping
// [ErrNotFound].
func (s *MemoryStore) Get(ctx context.Context, taskID string) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	s.mu.Lock()
	n, ok := s.byID[taskID]
	var e Entry
	if ok {
		e = n.entry
	}
	s.mu.Unlock()
	if !ok {
		return Entry{}, fmt.Errorf("%w: task id %q", ErrNotFound, taskID)
	}
	return cloneEntry(e), nil
}

// Len returns the number of stored entries.
func (s *MemoryStore) Len(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID), nil
}

// Delete removes the entry stored under taskID, or returns an error wrapping
// [ErrNotFound] when there is none.
func (s *MemoryStore) Delete(ctx context.Context, taskID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.byID[taskID]
	if !ok {
		return fmt.Errorf("%w: task id %q", ErrNotFound, taskID)
	}
	s.unlinkLocked(n)
	return nil
}
