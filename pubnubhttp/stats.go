// stats.go exposes the handler's figures for monitoring.

package pubnubhttp

// HeldPolls returns the number of subscribe long-polls the handler holds
// open now. It is safe for concurrent use.
func (h *Handler) HeldPolls() int { return h.poll.held() }
