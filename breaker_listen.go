package resilience

// stateListener is one function added by [Breaker.OnStateChange]; its
// address identifies it for removal.
type stateListener struct{ fn func(from, to State) }

// OnStateChange adds fn to the functions called after each state change of
// the breaker, as [BreakerConfig.OnStateChange] is (which runs first): in
// the goroutine that caused the change, with no lock held, so fn may call
// the breaker. It lets code that did not build the breaker (metrics, a
// dashboard) watch it. Listeners run in the order they were added.
//
// The returned function removes fn; calling it again does nothing. A nil fn
// adds nothing and returns a no-op. A breaker without listeners pays one
// atomic load per state change and nothing per call. OnStateChange is
// safe for concurrent use; a change that races with it may miss fn.
func (b *Breaker) OnStateChange(fn func(from, to State)) (remove func()) {
	if fn == nil {
		return func() {}
	}
	l := &stateListener{fn: fn}
	b.mu.Lock()
	var next []*stateListener
	if old := b.listeners.Load(); old != nil {
		next = append(next, *old...)
	}
	next = append(next, l)
	b.listeners.Store(&next)
	b.mu.Unlock()
	return func() { b.removeListener(l) }
}

func (b *Breaker) removeListener(l *stateListener) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.listeners.Load()
	if old == nil {
		return
	}
	next := make([]*stateListener, 0, len(*old))
	for _, x := range *old {
		if x != l {
			next = append(next, x)
		}
	}
	b.listeners.Store(&next)
}

// notifyListeners calls the listeners added by OnStateChange.
func (b *Breaker) notifyListeners(from, to State) {
	ls := b.listeners.Load()
	if ls == nil {
		return
	}
	for _, l := range *ls {
		l.fn(from, to)
	}
}
