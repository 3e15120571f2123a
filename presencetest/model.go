package presencetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/presencekit/presence"
	"pgregory.net/rapid"
)

// Pools of names the state machine draws from: small, so operations collide.
var (
	modelUUIDs    = []string{"u0", "u1", "u2", "u3"}
	modelChannels = []string{"c0", "c1", "c2", "c3"}
	modelGroups   = []string{"g0", "g1"}
	modelStates   = []string{`{"a":1}`, `{ "b" : [1, 2] , "a":"x"}`, `{}`, `{"a":1.50}`}
)

// The group subscription Check holds besides an all-subscription: channel
// c3 by name, groups g1 then g0.
var (
	groupSubChannels = []string{"c3"}
	groupSubGroups   = []string{"g1", "g0"}
)

// Check drives one random sequence of operations against a backend made by
// newBackend and, after every step, compares the backend with a plain
// model of the presence rules and with the memberships rebuilt from the
// event stream.
//
// The steps are Heartbeat, Leave, SetState, group edits, invalid calls,
// calls naming nothing (ErrNoTargets), random reads (named here_now with
// groups and paging, get_state through groups), clock advances without a
// sweep, a clock set exactly to a member's deadline, Sweep, and two Sweeps
// at once. After each step it checks: the events of an all-subscription
// and of a group subscription, channel by channel (exactly, or as
// multisets of uuids where one sweep removes several members at once);
// the memberships replayed from the all-subscription; global here_now with
// state; here_now of every group; every channel's occupants page by page;
// where_now and get_state of every uuid; Occupancy of every channel; and
// Stats. Use it with rapid.Check, or rapid.MakeFuzz for fuzzing.
//
// The config it passes has a *ManualClock, a negative SweepInterval,
// interval mode off, always on, or above 1 or 2 members, and Deltas on, so
// the event stream alone rebuilds the memberships.
func Check(t *rapid.T, newBackend func(presence.Config) (presence.Backend, error)) {
	clk := NewManualClock(Epoch)
	cfg := presence.Config{
		Clock:          clk,
		SweepInterval:  -1,
		MinTimeout:     time.Second,
		MaxTimeout:     60 * time.Second,
		DefaultTimeout: 30 * time.Second,
		AnnounceMax:    rapid.SampledFrom([]int{presence.NoIntervalMode, presence.AlwaysIntervalMode, 1, 2}).Draw(t, "announceMax"),
		Interval:       10 * time.Second,
		Deltas:         true,
	}
	b, err := newBackend(cfg)
	if err != nil {
		t.Fatalf("new backend: %v", err)
	}
	defer b.Close()
	all, err := b.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 1 << 16})
	if err != nil {
		t.Fatalf("Subscribe(All): %v", err)
	}
	grouped, err := b.Subscribe(ctx, presence.SubscribeOptions{Channels: groupSubChannels, Groups: groupSubGroups, Buffer: 1 << 16})
	if err != nil {
		t.Fatalf("Subscribe(groups): %v", err)
	}
	m := newModel(cfg)
	h := &harness{b: b, clk: clk, m: m, all: all, grouped: grouped, rebuilt: map[string]map[string]bool{}}
	t.Repeat(map[string]func(*rapid.T){
		"Heartbeat": h.heartbeat,
		"Leave":     h.leave,
		"SetState":  h.setState,
		"GroupEdit": h.groupEdit,
		"Invalid":   h.invalid,
		"Read":      h.read,
		"Advance": func(t *rapid.T) { // time passes, nothing sweeps
			d := rapid.SampledFrom([]time.Duration{time.Nanosecond, 500 * time.Millisecond, time.Second, 3 * time.Second, 10 * time.Second, 31 * time.Second}).Draw(t, "advance")
			clk.Add(d)
			m.now = m.now.Add(d)
		},
		"ToDeadline": h.toDeadline,
		"Sweep": func(t *rapid.T) {
			if rapid.Bool().Draw(t, "advanceFirst") {
				d := rapid.SampledFrom([]time.Duration{time.Second, 10 * time.Second, 29 * time.Second, 61 * time.Second}).Draw(t, "advance")
				clk.Add(d)
				m.now = m.now.Add(d)
			}
			if err := b.Sweep(ctx); err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			m.sweep()
		},
		"SweepTwice": func(t *rapid.T) { // two Sweeps at once: both return with everything due done
			errs := make(chan error, 2)
			for range 2 {
				go func() { errs <- b.Sweep(ctx) }()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatalf("concurrent Sweep: %v", err)
				}
			}
			m.sweep()
		},
		"": h.check,
	})
}

// harness is one Check run: the backend, its clock, the model and the
// two subscriptions whose events are checked.
type harness struct {
	b            presence.Backend
	clk          *ManualClock
	m            *model
	all, grouped *presence.Subscription
	rebuilt      map[string]map[string]bool // memberships replayed from all's events
}

func drawTargets(t *rapid.T, maxChannels, maxGroups int) (chans, groups []string) {
	chans = rapid.SliceOfNDistinct(rapid.SampledFrom(modelChannels), 0, maxChannels, rapid.ID[string]).Draw(t, "channels")
	groups = rapid.SliceOfNDistinct(rapid.SampledFrom(modelGroups), 0, maxGroups, rapid.ID[string]).Draw(t, "groups")
	// now and then the same channel twice: a call names it once
	if len(chans) > 0 && rapid.IntRange(0, 7).Draw(t, "repeat") == 0 {
		chans = append(chans, chans[0])
	}
	return chans, groups
}

func (h *harness) heartbeat(t *rapid.T) {
	uuid := rapid.SampledFrom(modelUUIDs).Draw(t, "uuid")
	chans, groups := drawTargets(t, 3, 2)
	timeout := rapid.SampledFrom([]time.Duration{0, time.Second, 5 * time.Second, 20 * time.Second, 90 * time.Second}).Draw(t, "timeout")
	var state map[string]any
	if rapid.Bool().Draw(t, "withState") {
		state = map[string]any{}
		keys := rapid.SliceOfNDistinct(rapid.SampledFrom(append(append([]string{"zz"}, modelChannels...), modelGroups...)), 1, 3, rapid.ID[string]).Draw(t, "stateKeys")
		for _, k := range keys {
			state[k] = json.RawMessage(rapid.SampledFrom(modelStates).Draw(t, "state"))
		}
	}
	err := h.b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: chans, Groups: groups, Timeout: timeout, State: state})
	if noTargets(t, "Heartbeat", chans, groups, err) {
		return
	}
	if err != nil {
		t.Fatalf("Heartbeat(%s, %v, %v): %v", uuid, chans, groups, err)
	}
	h.m.heartbeat(uuid, chans, groups, timeout, state)
}

func (h *harness) leave(t *rapid.T) {
	uuid := rapid.SampledFrom(modelUUIDs).Draw(t, "uuid")
	chans, groups := drawTargets(t, 3, 2)
	err := h.b.Leave(ctx, presence.LeaveRequest{UUID: uuid, Channels: chans, Groups: groups})
	if noTargets(t, "Leave", chans, groups, err) {
		return
	}
	if err != nil {
		t.Fatalf("Leave: %v", err)
	}
	h.m.leave(uuid, h.m.targets(chans, groups))
}

func (h *harness) setState(t *rapid.T) {
	uuid := rapid.SampledFrom(modelUUIDs).Draw(t, "uuid")
	chans, groups := drawTargets(t, 2, 1)
	st := rapid.SampledFrom(modelStates).Draw(t, "state")
	got, err := h.b.SetState(ctx, presence.SetStateRequest{UUID: uuid, Channels: chans, Groups: groups, State: json.RawMessage(st)})
	if noTargets(t, "SetState", chans, groups, err) {
		return
	}
	if err != nil {
		t.Fatalf("SetState: %v", err)
	}
	if c := canon(st); string(got) != orEmpty(c) {
		t.Fatalf("SetState returned %s, want %s", got, orEmpty(c))
	}
	h.m.setState(uuid, h.m.targets(chans, groups), canon(st))
}

func (h *harness) groupEdit(t *rapid.T) {
	g := rapid.SampledFrom(modelGroups).Draw(t, "group")
	chans := rapid.SliceOfN(rapid.SampledFrom(modelChannels), 1, 3).Draw(t, "channels")
	m := h.m
	switch rapid.IntRange(0, 2).Draw(t, "edit") {
	case 0:
		if err := h.b.AddChannels(ctx, g, chans); err != nil {
			t.Fatalf("AddChannels: %v", err)
		}
		for _, c := range chans {
			if !slices.Contains(m.groups[g], c) {
				m.groups[g] = append(m.groups[g], c)
			}
		}
	case 1:
		if err := h.b.RemoveChannels(ctx, g, chans); err != nil {
			t.Fatalf("RemoveChannels: %v", err)
		}
		m.groups[g] = slices.DeleteFunc(m.groups[g], func(c string) bool { return slices.Contains(chans, c) })
		if len(m.groups[g]) == 0 {
			delete(m.groups, g)
		}
	default:
		if err := h.b.DeleteGroup(ctx, g); err != nil {
			t.Fatalf("DeleteGroup: %v", err)
		}
		delete(m.groups, g)
	}
	got, err := h.b.GroupChannels(ctx, g)
	if err != nil {
		t.Fatalf("GroupChannels(%s): %v", g, err)
	}
	if want := slices.Sorted(slices.Values(m.groups[g])); !slices.Equal(got, want) && len(got)+len(want) > 0 {
		t.Fatalf("GroupChannels(%s) = %q, want %q", g, got, want)
	}
}

func (h *harness) invalid(t *rapid.T) {
	bad := rapid.SampledFrom([]string{"a,b", "", "x-pnpres", "tab\t"}).Draw(t, "bad")
	uuid := rapid.SampledFrom(modelUUIDs).Draw(t, "uuid")
	var err error
	switch rapid.IntRange(0, 4).Draw(t, "op") {
	case 0:
		err = h.b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: []string{"c0", bad}})
	case 1:
		err = h.b.Leave(ctx, presence.LeaveRequest{UUID: uuid, Channels: []string{"c1"}, Groups: []string{bad}})
	case 2:
		_, err = h.b.SetState(ctx, presence.SetStateRequest{UUID: uuid, Channels: []string{"c0", bad}, State: json.RawMessage(`{"a":1}`)})
	case 3:
		_, err = h.b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"c2"}, Groups: []string{bad}})
	default:
		_, err = h.b.SetState(ctx, presence.SetStateRequest{UUID: uuid, Channels: []string{"c0"}, State: json.RawMessage(`[1]`)})
		if !errors.Is(err, presence.ErrInvalidState) {
			t.Fatalf("SetState([1]) = %v, want ErrInvalidState", err)
		}
		return
	}
	if !errors.Is(err, presence.ErrInvalidName) {
		t.Fatalf("a call naming %q: %v, want ErrInvalidName", bad, err)
	}
}

// read asks a random named here_now (channels and groups, paged, with or
// without state, or occupancy only) and a get_state through groups.
func (h *harness) read(t *rapid.T) {
	m := h.m
	chans, groups := drawTargets(t, 3, 2)
	q := presence.HereNowQuery{Channels: chans, Groups: groups,
		Limit:  rapid.IntRange(0, 3).Draw(t, "limit"),
		Offset: rapid.IntRange(0, 4).Draw(t, "offset"),
	}
	switch rapid.IntRange(0, 2).Draw(t, "shape") {
	case 0:
		q.OccupancyOnly = true
	case 1:
		q.IncludeState = true
	}
	r, err := h.b.HereNow(ctx, q)
	if err != nil {
		t.Fatalf("HereNow(%+v): %v", q, err)
	}
	if len(chans) == 0 && len(groups) == 0 {
		h.checkGlobal(t, r, q)
	} else {
		h.checkNamed(t, r, q)
	}
	uuid := rapid.SampledFrom(modelUUIDs).Draw(t, "uuid")
	got, err := h.b.GetState(ctx, presence.GetStateRequest{UUID: uuid, Channels: chans, Groups: groups})
	if noTargets(t, "GetState", chans, groups, err) {
		return
	}
	if err != nil {
		t.Fatalf("GetState: %v", err)
	}
	want := map[string]string{}
	for _, c := range m.targets(chans, groups) {
		if st := m.stateOf(uuid, c); st != "" {
			want[c] = st
		}
	}
	if g := rawMap(got); !maps.Equal(g, want) {
		t.Fatalf("GetState(%s, %v, %v) at %v = %v, want %v", uuid, chans, groups, m.since(), g, want)
	}
}

// toDeadline sets the clock exactly to a member's deadline, or to a
// channel's next interval tick, without sweeping: the reads that follow
// run at the instant the member stops being present.
func (h *harness) toDeadline(t *rapid.T) {
	m := h.m
	var ahead []time.Time
	for _, ms := range m.held {
		for _, mm := range ms {
			if mm.deadline.After(m.now) {
				ahead = append(ahead, mm.deadline)
			}
		}
	}
	for _, iv := range m.modes {
		ahead = append(ahead, iv.next)
	}
	if len(ahead) == 0 {
		t.Skip("no deadline ahead")
	}
	slices.SortFunc(ahead, func(a, b time.Time) int { return a.Compare(b) })
	at := ahead[rapid.IntRange(0, len(ahead)-1).Draw(t, "which")]
	h.clk.Set(at)
	m.now = at
}

// mMember is a membership the model holds: present while now < deadline,
// held until a sweep or a call that meets it removes it.
type mMember struct {
	deadline time.Time
	state    string // canonical, "" for none
}

type mPending struct {
	state   string
	expires time.Time
}

// mInterval is a channel in interval mode.
type mInterval struct {
	entered time.Time // ticks fall on entered + k·Interval, k ≥ 1
	next    time.Time
	deltas  []presence.Delta
}

// model is the presence rules read from the behaviour the package
// documents, written without looking at any backend's code:
//
//   - A membership is present while now < deadline. From its deadline on,
//     reads (here_now, where_now, get_state) leave it out; it is removed,
//     with a timeout, by the next sweep or by a heartbeat, leave or
//     set_state that meets it. Until then it is held: Occupancy and Stats
//     may still count it, and events count it in their occupancy, as the
//     stream has not yet told its end.
//   - Heartbeat on a target: present → the deadline moves to now +
//     timeout, and a state given for the channel that differs from the
//     stored one is a state-change; held but due → a timeout, then a join;
//     absent → a join, whose state is the heartbeat's for the channel, else
//     the pending state if still alive. Pending state there is dropped.
//   - The state a heartbeat gives a channel: the map's entry under the
//     channel's own name when the call names the channel, else the entry of
//     the first group named in the call that contains it.
//   - Leave: a held target ends with a leave, or a timeout when due; pending
//     state there is dropped. SetState: present → state replaced and a
//     state-change (always); held but due → a timeout, then pending; absent
//     → pending state for DefaultTimeout ({} drops it).
//   - Interval mode: a join, leave or timeout that leaves a channel with
//     more than AnnounceMax members while it is in announce mode is not
//     told: the channel enters interval mode at that moment, with the change
//     as the first delta. In interval mode changes are deltas; a change
//     that leaves AnnounceMax members or fewer is told at once as an
//     interval event with the deltas (itself included), and the channel is
//     in announce mode again. A channel in interval mode has an interval
//     event every Interval from the moment it entered, even without changes.
//   - A sweep at now removes every due membership (timeouts first), then
//     emits the interval events due at or before now: one per channel
//     however many ticks a late sweep missed, the next tick the first one
//     after now on the channel's grid.
//   - An event reaches the group subscription if it names the channel
//     (unmarked), else marked with the first of its groups that contains
//     the channel at that moment.
type model struct {
	now            time.Time
	defaultTimeout time.Duration
	minTimeout     time.Duration
	maxTimeout     time.Duration
	interval       time.Duration
	announceMax    int // -1: never in interval mode

	held    map[string]map[string]*mMember
	pending map[string]map[string]mPending
	groups  map[string][]string // in the order channels were added
	modes   map[string]*mInterval

	wantAll, wantGrouped map[string][]string // events expected since the last check, per channel
	swept                bool                // a sweep since the last check: timeouts in any order
}

func newModel(cfg presence.Config) *model {
	am := cfg.AnnounceMax
	switch am {
	case presence.AlwaysIntervalMode:
		am = 0
	case presence.NoIntervalMode:
		am = -1
	}
	return &model{
		now:            Epoch,
		defaultTimeout: cfg.DefaultTimeout,
		minTimeout:     cfg.MinTimeout,
		maxTimeout:     cfg.MaxTimeout,
		interval:       cfg.Interval,
		announceMax:    am,
		held:           map[string]map[string]*mMember{},
		pending:        map[string]map[string]mPending{},
		groups:         map[string][]string{},
		modes:          map[string]*mInterval{},
		wantAll:        map[string][]string{},
		wantGrouped:    map[string][]string{},
	}
}

func (m *model) since() time.Duration { return m.now.Sub(Epoch) }

// targets expands a call's channels and groups: the channels in the order
// first named, then each group's channels, without duplicates.
func (m *model) targets(chans, groups []string) []string {
	var out []string
	add := func(c string) {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, c := range chans {
		add(c)
	}
	for _, g := range groups {
		for _, c := range m.groups[g] {
			add(c)
		}
	}
	return out
}

func (m *model) present(c, uuid string) bool {
	mm := m.held[c][uuid]
	return mm != nil && m.now.Before(mm.deadline)
}

// presentSet lists the uuids present on c, sorted.
func (m *model) presentSet(c string) []string {
	var out []string
	for u := range m.held[c] {
		if m.present(c, u) {
			out = append(out, u)
		}
	}
	slices.Sort(out)
	return out
}

// stateOf is uuid's state on c as get_state reads it: the member's while
// present, else pending state that has not expired.
func (m *model) stateOf(uuid, c string) string {
	if m.present(c, uuid) {
		return m.held[c][uuid].state
	}
	if p, ok := m.pending[c][uuid]; ok && m.now.Before(p.expires) {
		return p.state
	}
	return ""
}

// tell records an event of channel c for both subscriptions.
func (m *model) tell(c string, a presence.Action, uuid, state string, deltas []presence.Delta) {
	line := render(a, uuid, len(m.held[c]), state, deltas)
	m.wantAll[c] = append(m.wantAll[c], line)
	if slices.Contains(groupSubChannels, c) {
		m.wantGrouped[c] = append(m.wantGrouped[c], line)
		return
	}
	for _, g := range groupSubGroups {
		if slices.Contains(m.groups[g], c) {
			m.wantGrouped[c] = append(m.wantGrouped[c], line+" via "+g)
			return
		}
	}
}

// changed tells a join, leave or timeout on c, whose members already
// reflect it, by the announce and interval rules.
func (m *model) changed(c string, a presence.Action, uuid, state string) {
	occ := len(m.held[c])
	limit := m.announceMax
	iv := m.modes[c]
	switch {
	case iv != nil:
		iv.deltas = append(iv.deltas, presence.Delta{Action: a, UUID: uuid})
		if occ <= limit { // back to AnnounceMax or below: told at once
			m.tell(c, presence.Interval, "", "", iv.deltas)
			delete(m.modes, c)
		}
	case limit >= 0 && occ > limit: // enters interval mode with this change
		m.modes[c] = &mInterval{entered: m.now, next: m.now.Add(m.interval), deltas: []presence.Delta{{Action: a, UUID: uuid}}}
	default:
		m.tell(c, a, uuid, state, nil)
	}
}

// end removes uuid from c with a leave or a timeout.
func (m *model) end(c, uuid string, a presence.Action) {
	delete(m.held[c], uuid)
	if len(m.held[c]) == 0 {
		delete(m.held, c)
	}
	m.changed(c, a, uuid, "")
}

func (m *model) dropPending(c, uuid string) {
	delete(m.pending[c], uuid)
	if len(m.pending[c]) == 0 {
		delete(m.pending, c)
	}
}

func (m *model) heartbeat(uuid string, chans, groups []string, timeout time.Duration, state map[string]any) {
	if timeout == 0 {
		timeout = m.defaultTimeout
	}
	timeout = min(max(timeout, m.minTimeout), m.maxTimeout)
	for _, c := range m.targets(chans, groups) {
		given, st := false, ""
		if v, ok := state[c]; ok && slices.Contains(chans, c) {
			given, st = true, canon(string(v.(json.RawMessage)))
		} else {
			for _, g := range groups {
				if v, ok := state[g]; ok && slices.Contains(m.groups[g], c) {
					given, st = true, canon(string(v.(json.RawMessage)))
					break
				}
			}
		}
		if m.present(c, uuid) {
			mm := m.held[c][uuid]
			mm.deadline = m.now.Add(timeout)
			if given && st != mm.state {
				mm.state = st
				m.tell(c, presence.StateChange, uuid, orEmpty(st), nil)
			}
			continue
		}
		if m.held[c][uuid] != nil {
			m.end(c, uuid, presence.Timeout)
		}
		if p, ok := m.pending[c][uuid]; ok && !given && m.now.Before(p.expires) {
			st = p.state
		}
		m.dropPending(c, uuid)
		if m.held[c] == nil {
			m.held[c] = map[string]*mMember{}
		}
		m.held[c][uuid] = &mMember{deadline: m.now.Add(timeout), state: st}
		m.changed(c, presence.Join, uuid, st)
	}
}

func (m *model) leave(uuid string, chans []string) {
	for _, c := range chans {
		if m.held[c][uuid] != nil {
			a := presence.Leave
			if !m.present(c, uuid) {
				a = presence.Timeout
			}
			m.end(c, uuid, a)
		}
		m.dropPending(c, uuid)
	}
}

func (m *model) setState(uuid string, chans []string, st string) {
	for _, c := range chans {
		if m.present(c, uuid) {
			m.held[c][uuid].state = st
			m.tell(c, presence.StateChange, uuid, orEmpty(st), nil)
			continue
		}
		if m.held[c][uuid] != nil {
			m.end(c, uuid, presence.Timeout)
		}
		if st == "" {
			m.dropPending(c, uuid)
			continue
		}
		if m.pending[c] == nil {
			m.pending[c] = map[string]mPending{}
		}
		m.pending[c][uuid] = mPending{state: st, expires: m.now.Add(m.defaultTimeout)}
	}
}

func (m *model) sweep() {
	m.swept = true
	for _, c := range slices.Sorted(maps.Keys(m.held)) {
		for _, u := range slices.Sorted(maps.Keys(m.held[c])) {
			if !m.present(c, u) {
				m.end(c, u, presence.Timeout)
			}
		}
	}
	for _, c := range slices.Sorted(maps.Keys(m.modes)) {
		iv := m.modes[c]
		if m.now.Before(iv.next) {
			continue
		}
		m.tell(c, presence.Interval, "", "", iv.deltas)
		iv.deltas = nil
		ticks := m.now.Sub(iv.entered)/m.interval + 1 // the first grid point after now
		iv.next = iv.entered.Add(ticks * m.interval)
	}
	for c, ps := range m.pending {
		for u, p := range ps {
			if !m.now.Before(p.expires) {
				m.dropPending(c, u)
			}
		}
	}
}

// canon is the model's canonical JSON: "" for {}.
func canon(s string) string {
	var v map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		panic(err)
	}
	if len(v) == 0 {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func orEmpty(s string) string {
	if s == "" {
		return "{}"
	}
	return s
}

func rawMap(m map[string]json.RawMessage) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = string(v)
	}
	return out
}

// render is one event as the model and the checks compare it.
func render(a presence.Action, uuid string, occ int, state string, deltas []presence.Delta) string {
	s := fmt.Sprintf("%s %s %d %s", a, uuid, occ, state)
	// the order of the timeouts of one sweep is the backend's choice: sort
	// each run of consecutive timeouts
	deltas = slices.Clone(deltas)
	for i := 0; i < len(deltas); {
		j := i
		for j < len(deltas) && deltas[j].Action == presence.Timeout {
			j++
		}
		slices.SortFunc(deltas[i:j], func(a, b presence.Delta) int { return strings.Compare(a.UUID, b.UUID) })
		i = max(j, i+1)
	}
	for _, d := range deltas {
		s += " " + d.Action.String() + ":" + d.UUID
	}
	return s
}

// normalize makes a sweep's events of one channel comparable: the order of
// simultaneous timeouts is the backend's choice, so uuids are compared as a
// multiset and the sequence without them.
func normalize(evs []string) (seq []string, uuids []string) {
	for _, e := range evs {
		f := strings.Fields(e)
		var rest []string
		if f[0] == "interval" { // "interval occupancy deltas… [via g]": no uuid, no state
			rest = []string{f[0], f[1]}
			var ds []string
			for _, d := range f[2:] {
				if a, u, ok := strings.Cut(d, ":"); ok {
					ds = append(ds, a)
					uuids = append(uuids, u)
				} else {
					rest = append(rest, d)
				}
			}
			slices.Sort(ds)
			rest = append(rest, ds...)
		} else {
			rest = append([]string{f[0], f[2]}, f[3:]...)
			uuids = append(uuids, f[1])
		}
		seq = append(seq, strings.Join(rest, " "))
	}
	slices.Sort(uuids)
	return seq, uuids
}

// receive drains a subscription's buffered events per channel, rendered,
// replaying them into rebuilt when it is not nil.
func (h *harness) receive(t *rapid.T, sub *presence.Subscription, rebuilt map[string]map[string]bool) map[string][]string {
	got := map[string][]string{}
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription closed: %v", sub.Err())
			}
			line := render(ev.Action, ev.UUID, ev.Occupancy, string(ev.State), ev.Deltas)
			if ev.Group != "" {
				line += " via " + ev.Group
			}
			got[ev.Channel] = append(got[ev.Channel], line)
			if rebuilt != nil {
				replay(t, rebuilt, ev)
			}
		default:
			return got
		}
	}
}

func compareEvents(t *rapid.T, what string, got, want map[string][]string, swept bool) {
	channels := map[string]bool{}
	for c := range got {
		channels[c] = true
	}
	for c := range want {
		channels[c] = true
	}
	for _, c := range slices.Sorted(maps.Keys(channels)) {
		g, w := got[c], want[c]
		if swept {
			gs, gu := normalize(g)
			ws, wu := normalize(w)
			if slices.Equal(gs, ws) && slices.Equal(gu, wu) {
				continue
			}
		} else if slices.Equal(g, w) {
			continue
		}
		t.Fatalf("%s events of %s:\n got %q\nwant %q", what, c, g, w)
	}
}

// check compares the backend with the model after a step.
func (h *harness) check(t *rapid.T) {
	m := h.m
	if err := h.b.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	compareEvents(t, "all-subscription", h.receive(t, h.all, h.rebuilt), m.wantAll, m.swept)
	compareEvents(t, "group subscription", h.receive(t, h.grouped, nil), m.wantGrouped, m.swept)
	m.wantAll, m.wantGrouped, m.swept = map[string][]string{}, map[string][]string{}, false

	// the stream rebuilds the memberships held, in every channel whose
	// deltas it has been told
	for _, c := range modelChannels {
		if m.modes[c] != nil {
			continue
		}
		want := slices.Sorted(maps.Keys(m.held[c]))
		got := slices.Sorted(maps.Keys(h.rebuilt[c]))
		if !slices.Equal(got, want) {
			t.Fatalf("memberships of %s rebuilt from events = %q, want %q (held at %v)", c, got, want, m.since())
		}
	}

	// global here_now with state
	r, err := h.b.HereNow(ctx, presence.HereNowQuery{IncludeState: true})
	if err != nil {
		t.Fatalf("HereNow: %v", err)
	}
	h.checkGlobal(t, r, presence.HereNowQuery{IncludeState: true, Limit: 1000})
	// every group, named alone and together
	for _, groups := range [][]string{{"g0"}, {"g1"}, {"g1", "g0"}} {
		q := presence.HereNowQuery{Groups: groups}
		r, err := h.b.HereNow(ctx, q)
		if err != nil {
			t.Fatalf("HereNow(%v): %v", groups, err)
		}
		h.checkNamed(t, r, q)
	}
	// every channel, page by page: each present member once
	for _, c := range modelChannels {
		want := m.presentSet(c)
		var paged []string
		for off := 0; off <= len(want); off += 2 {
			q := presence.HereNowQuery{Channels: []string{c}, Limit: 2, Offset: off}
			r, err := h.b.HereNow(ctx, q)
			if err != nil {
				t.Fatalf("HereNow(%+v): %v", q, err)
			}
			h.checkNamed(t, r, q)
			for _, o := range r.Channels[0].Occupants {
				paged = append(paged, o.UUID)
			}
		}
		slices.Sort(paged)
		if !slices.Equal(paged, want) {
			t.Fatalf("pages of %s at %v list %q, want each of %q once", c, m.since(), paged, want)
		}
		occ, err := h.b.Occupancy(ctx, c)
		if err != nil {
			t.Fatalf("Occupancy(%s): %v", c, err)
		}
		if occ < len(want) || occ > len(m.held[c]) {
			t.Fatalf("Occupancy(%s) at %v = %d, want the %d present, or up to the %d not yet removed", c, m.since(), occ, len(want), len(m.held[c]))
		}
	}
	// where_now and get_state of every uuid
	presentUUIDs, heldUUIDs := 0, map[string]bool{}
	for _, u := range modelUUIDs {
		where, err := h.b.WhereNow(ctx, u)
		if err != nil {
			t.Fatalf("WhereNow(%s): %v", u, err)
		}
		var want []string
		wantState := map[string]string{}
		for _, c := range modelChannels {
			if m.present(c, u) {
				want = append(want, c)
			}
			if m.held[c][u] != nil {
				heldUUIDs[u] = true
			}
			if st := m.stateOf(u, c); st != "" {
				wantState[c] = st
			}
		}
		if len(want) > 0 {
			presentUUIDs++
		}
		if where == nil || !slices.Equal(where, want) && len(where)+len(want) > 0 {
			t.Fatalf("WhereNow(%s) at %v = %#v, want %q", u, m.since(), where, want)
		}
		st, err := h.b.GetState(ctx, presence.GetStateRequest{UUID: u, Channels: modelChannels})
		if err != nil {
			t.Fatalf("GetState(%s): %v", u, err)
		}
		if got := rawMap(st); !maps.Equal(got, wantState) {
			t.Fatalf("GetState(%s) at %v = %v, want %v", u, m.since(), got, wantState)
		}
	}
	// Stats count what is held, at least what is present
	st, err := h.b.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	present, held, presentChans := 0, 0, 0
	for c, ms := range m.held {
		held += len(ms)
		if n := len(m.presentSet(c)); n > 0 {
			present += n
			presentChans++
		}
	}
	if st.Memberships < present || st.Memberships > held || st.Channels < presentChans || st.Channels > len(m.held) ||
		st.UUIDs < presentUUIDs || st.UUIDs > len(heldUUIDs) {
		t.Fatalf("Stats at %v = %+v, want memberships %d..%d, channels %d..%d, uuids %d..%d",
			m.since(), st, present, held, presentChans, len(m.held), presentUUIDs, len(heldUUIDs))
	}
}

// occupantsOf renders a channel's listed occupants, sorted, with their
// state when asked for.
func occupantsOf(cp presence.ChannelPresence, withState bool) []string {
	var out []string
	for _, o := range cp.Occupants {
		s := o.UUID
		if withState {
			s += "=" + string(o.State)
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// checkGlobal checks a global here_now: every channel with a present
// member, sorted, each with its occupancy and a page of its occupants.
func (h *harness) checkGlobal(t *rapid.T, r presence.HereNowResult, q presence.HereNowQuery) {
	m := h.m
	var want []string
	for _, c := range modelChannels {
		if len(m.presentSet(c)) > 0 {
			want = append(want, c)
		}
	}
	var got []string
	for _, cp := range r.Channels {
		got = append(got, cp.Channel)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("global HereNow at %v lists %q, want %q", m.since(), got, want)
	}
	h.checkChannels(t, r, q)
}

// checkNamed checks a here_now naming channels or groups: their expansion
// in order, empty ones included, each with its occupancy and a page of its
// occupants.
func (h *harness) checkNamed(t *rapid.T, r presence.HereNowResult, q presence.HereNowQuery) {
	want := h.m.targets(q.Channels, q.Groups)
	var got []string
	for _, cp := range r.Channels {
		got = append(got, cp.Channel)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("HereNow(%v, %v) lists %q, want %q", q.Channels, q.Groups, got, want)
	}
	h.checkChannels(t, r, q)
}

func (h *harness) checkChannels(t *rapid.T, r presence.HereNowResult, q presence.HereNowQuery) {
	m := h.m
	limit := q.Limit
	if limit == 0 {
		limit = 1000
	}
	total := 0
	for _, cp := range r.Channels {
		present := m.presentSet(cp.Channel)
		total += len(present)
		if cp.Occupancy != len(present) {
			t.Fatalf("HereNow(%+v) at %v: %s occupancy %d, want %d (%q)", q, m.since(), cp.Channel, cp.Occupancy, len(present), present)
		}
		if q.OccupancyOnly {
			if cp.Occupants != nil {
				t.Fatalf("HereNow(%+v): occupancy only, but %s lists %v", q, cp.Channel, cp.Occupants)
			}
			continue
		}
		if cp.Occupants == nil {
			t.Fatalf("HereNow(%+v): %s lists nil occupants, want a list", q, cp.Channel)
		}
		if want := min(limit, max(0, len(present)-q.Offset)); len(cp.Occupants) != want {
			t.Fatalf("HereNow(%+v) at %v: %s lists %d occupants, want %d of %q", q, m.since(), cp.Channel, len(cp.Occupants), want, present)
		}
		for _, o := range cp.Occupants {
			if !slices.Contains(present, o.UUID) {
				t.Fatalf("HereNow(%+v) at %v: %s lists %s, not present (%q)", q, m.since(), cp.Channel, o.UUID, present)
			}
			want := ""
			if q.IncludeState {
				want = m.held[cp.Channel][o.UUID].state
			}
			if string(o.State) != want {
				t.Fatalf("HereNow(%+v): %s's state on %s is %s, want %s", q, o.UUID, cp.Channel, o.State, want)
			}
		}
		if len(occupantsOf(cp, false)) != len(slices.Compact(occupantsOf(cp, false))) {
			t.Fatalf("HereNow(%+v): %s lists an occupant twice: %q", q, cp.Channel, occupantsOf(cp, false))
		}
	}
	if r.TotalOccupancy != total || r.TotalChannels != len(r.Channels) {
		t.Fatalf("HereNow(%+v) at %v: totals %d channels, %d occupancy; want %d, %d", q, m.since(), r.TotalChannels, r.TotalOccupancy, len(r.Channels), total)
	}
}

// replay applies ev to the memberships rebuilt from the stream and checks
// the occupancy it carries.
func replay(t *rapid.T, rebuilt map[string]map[string]bool, ev presence.Event) {
	set := rebuilt[ev.Channel]
	if set == nil {
		set = map[string]bool{}
		rebuilt[ev.Channel] = set
	}
	apply := func(a presence.Action, u string) {
		switch a {
		case presence.Join:
			if set[u] {
				t.Fatalf("join of %s on %s, already present in the stream", u, ev.Channel)
			}
			set[u] = true
		case presence.Leave, presence.Timeout:
			if !set[u] {
				t.Fatalf("%s of %s on %s, absent in the stream", a, u, ev.Channel)
			}
			delete(set, u)
		}
	}
	if ev.Action == presence.Interval {
		for _, d := range ev.Deltas {
			apply(d.Action, d.UUID)
		}
	} else {
		apply(ev.Action, ev.UUID)
	}
	// a state-change in interval mode carries the true occupancy, which the
	// stream only catches up with at the next interval event; the
	// comparison with the model checks it
	if ev.Action != presence.StateChange && ev.Occupancy != len(set) {
		t.Fatalf("%s event on %s carries occupancy %d, the stream replays to %d", ev.Action, ev.Channel, ev.Occupancy, len(set))
	}
}

// noTargets checks the rule for a call naming no channel and no group: it
// fails with ErrNoTargets and changes nothing. It reports whether the call
// named nothing.
func noTargets(t *rapid.T, op string, chans, groups []string, err error) bool {
	if len(chans) > 0 || len(groups) > 0 {
		return false
	}
	if !errors.Is(err, presence.ErrNoTargets) {
		t.Fatalf("%s naming nothing: err %v, want ErrNoTargets", op, err)
	}
	return true
}
