// groups.go holds channel groups: named sets of channel names, and the
// reverse index from a channel to the groups that contain it, which event
// delivery reads to mark group subscriptions. Groups hold names only: adding
// a channel to a group joins nobody. One RWMutex guards them; group edits are
// rare and never take another lock.

package presence

import (
	"context"
	"slices"
	"sync"

	"github.com/presencekit/presence/internal/rules"
)

type group struct {
	channels []string // in the order added
	set      map[string]struct{}
}

type groupTable struct {
	mu        sync.RWMutex
	byName    map[string]*group
	ofChannel map[string][]string // channel → groups containing it, in the order added
}

func (t *groupTable) init() {
	t.byName = make(map[string]*group)
	t.ofChannel = make(map[string][]string)
}

func (t *groupTable) count() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.byName)
}

// checkGroupEdit validates a group edit: the group name, each channel, and
// the per-call limit.
func (e *Engine) checkGroupEdit(g string, channels []string) error {
	if err := e.checkName("group", g, true); err != nil {
		return err
	}
	for _, c := range channels {
		if err := e.checkName("channel", c, true); err != nil {
			return err
		}
	}
	if n := rules.Distinct(channels); n > e.cfg.MaxGroupEdit {
		return newError(ErrTooManyChannels, "too many channels: %d in one edit of group %q, at most %d", n, g, e.cfg.MaxGroupEdit)
	}
	return nil
}

// AddChannels adds channels to group g, creating it. Channels already in
// the group are ignored. More than Config.MaxGroupEdit channels is
// ErrTooManyChannels; a group that would exceed Config.MaxGroupChannels is
// ErrGroupFull, and nothing is added.
func (e *Engine) AddChannels(_ context.Context, g string, channels []string) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if err := e.checkGroupEdit(g, channels); err != nil {
		return err
	}
	t := &e.groups
	t.mu.Lock()
	defer t.mu.Unlock()
	grp := t.byName[g]
	have := 0
	if grp != nil {
		have = len(grp.channels)
	}
	added := 0
	for i, c := range channels {
		if (grp == nil || !hasKey(grp.set, c)) && !rules.Contains(channels[:i], c) {
			added++
		}
	}
	if have+added > e.cfg.MaxGroupChannels {
		return newError(ErrGroupFull, "group %q full: %d channels plus %d new, at most %d", g, have, added, e.cfg.MaxGroupChannels)
	}
	if added == 0 {
		return nil
	}
	if grp == nil {
		grp = &group{set: make(map[string]struct{})}
		t.byName[g] = grp
	}
	for _, c := range channels {
		if hasKey(grp.set, c) {
			continue
		}
		grp.set[c] = struct{}{}
		grp.channels = append(grp.channels, c)
		t.ofChannel[c] = append(t.ofChannel[c], g)
	}
	e.invalidateHereNow()
	return nil
}

// RemoveChannels removes channels from group g; channels not in it are
// ignored. A group left empty no longer exists.
func (e *Engine) RemoveChannels(_ context.Context, g string, channels []string) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if err := e.checkGroupEdit(g, channels); err != nil {
		return err
	}
	t := &e.groups
	t.mu.Lock()
	defer t.mu.Unlock()
	grp := t.byName[g]
	if grp == nil {
		return nil
	}
	for _, c := range channels {
		if !hasKey(grp.set, c) {
			continue
		}
		delete(grp.set, c)
		grp.channels = slices.DeleteFunc(grp.channels, func(x string) bool { return x == c })
		t.unindex(c, g)
	}
	if len(grp.channels) == 0 {
		delete(t.byName, g)
	}
	e.invalidateHereNow()
	return nil
}

// DeleteGroup removes group g and its channel list. Deleting a group that
// does not exist is not an error.
func (e *Engine) DeleteGroup(_ context.Context, g string) error {
	if e.closed.Load() {
		return ErrClosed
	}
	if err := e.checkName("group", g, true); err != nil {
		return err
	}
	t := &e.groups
	t.mu.Lock()
	defer t.mu.Unlock()
	grp := t.byName[g]
	if grp == nil {
		return nil
	}
	for _, c := range grp.channels {
		t.unindex(c, g)
	}
	delete(t.byName, g)
	e.invalidateHereNow()
	return nil
}

// GroupChannels returns the channels of group g, sorted; a group that does
// not exist lists as empty. The slice is the caller's.
func (e *Engine) GroupChannels(_ context.Context, g string) ([]string, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if err := e.checkName("group", g, true); err != nil {
		return nil, err
	}
	t := &e.groups
	t.mu.RLock()
	var out []string
	if grp := t.byName[g]; grp != nil {
		out = slices.Clone(grp.channels)
	}
	t.mu.RUnlock()
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// Groups returns the names of every group, sorted. The slice is the
// caller's.
func (e *Engine) Groups(context.Context) ([]string, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	t := &e.groups
	t.mu.RLock()
	out := make([]string, 0, len(t.byName))
	for g := range t.byName {
		out = append(out, g)
	}
	t.mu.RUnlock()
	slices.Sort(out)
	return out, nil
}

// unindex removes g from channel c's reverse index. Caller holds t.mu.
func (t *groupTable) unindex(c, g string) {
	l := slices.DeleteFunc(t.ofChannel[c], func(x string) bool { return x == g })
	if len(l) == 0 {
		delete(t.ofChannel, c)
	} else {
		t.ofChannel[c] = l
	}
}

func hasKey(m map[string]struct{}, k string) bool {
	_, ok := m[k]
	return ok
}
