// stats.go exposes the handler's figures for monitoring.

package pubnubhttp

// HeldPolls returns the number of subscribe long-polls the handler holds
// open now. It is safe for concurrent use.
func (h *Handler) HeldPolls() int { return h.poll.held() }

// Wakeups returns the number of times a held long-poll was woken by an
// event that may concern it (one of its channels, or of its groups' when
// the group's channels are not known yet), since New; events of other
// channels wake nobody. A wake-up that finds nothing to answer goes back
// to waiting. It is safe for concurrent use.
func (h *Handler) Wakeups() uint64 { return h.wakeups.Load() }
