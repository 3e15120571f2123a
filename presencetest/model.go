package presencetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
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

// Check drives one random sequence of Heartbeat, Leave, SetState, group
// edits, invalid calls and clock advances (each followed by Sweep) against
// a backend made by newBackend, and after every step compares it with a
// plain model: HereNow, WhereNow, GetState and Stats, the events of each
// channel (exactly, or as multisets where one sweep removes several members
// at once), and the memberships rebuilt only from the event stream of an
// all-subscription. Use it with rapid.Check, or rapid.MakeFuzz for fuzzing.
//
// The config it passes has a *ManualClock, a negative SweepInterval,
// interval mode on or off at random, and Deltas on, so the event stream
// alone rebuilds the memberships.
func Check(t *rapid.T, newBackend func(presence.Config) (presence.Backend, error)) {
	clk := NewManualClock(Epoch)
	cfg := presence.Config{
		Clock:          clk,
		SweepInterval:  -1,
		MinTimeout:     time.Second,
		MaxTimeout:     60 * time.Second,
		DefaultTimeout: 30 * time.Second,
		AnnounceMax:    rapid.SampledFrom([]int{-1, 1, 2}).Draw(t, "announceMax"),
		Interval:       10 * time.Second,
		Deltas:         true,
	}
	b, err := newBackend(cfg)
	if err != nil {
		t.Fatalf("new backend: %v", err)
	}
	defer b.Close()
	sub, err := b.Subscribe(ctx, presence.SubscribeOptions{All: true, Buffer: 1 << 16})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	m := &model{
		cfg:     cfg,
		now:     Epoch,
		members: map[string]map[string]*mMember{},
		pending: map[string]map[string]*mPending{},
		groups:  map[string][]string{},
		iv:      map[string]*mInterval{},
		want:    map[string][]string{},
		rebuilt: map[string]map[string]bool{},
	}
	sweepStep := false
	t.Repeat(map[string]func(*rapid.T){
		"Heartbeat": func(t *rapid.T) {
			uuid := rapid.SampledFrom(modelUUIDs).Draw(t, "uuid")
			chans := rapid.SliceOfNDistinct(rapid.SampledFrom(modelChannels), 0, 3, rapid.ID[string]).Draw(t, "channels")
			groups := rapid.SliceOfNDistinct(rapid.SampledFrom(modelGroups), 0, 2, rapid.ID[string]).Draw(t, "groups")
			timeout := rapid.SampledFrom([]time.Duration{0, time.Second, 5 * time.Second, 20 * time.Second, 90 * time.Second}).Draw(t, "timeout")
			var state map[string]any
			if rapid.Bool().Draw(t, "withState") {
				state = map[string]any{}
				keys := rapid.SliceOfNDistinct(rapid.SampledFrom(append(append([]string{"zz"}, modelChannels...), modelGroups...)), 1, 3, rapid.ID[string]).Draw(t, "stateKeys")
				for _, k := range keys {
					state[k] = json.RawMessage(rapid.SampledFrom(modelStates).Draw(t, "state"))
				}
			}
			err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: chans, Groups: groups, Timeout: timeout, State: state})
			if noTargets(t, "Heartbeat", chans, groups, err) {
				return
			}
			if err != nil {
				t.Fatalf("Heartbeat(%s, %v, %v): %v", uuid, chans, groups, err)
			}
			m.heartbeat(uuid, chans, groups, timeout, state)
		},
		"Leave": func(t *rapid.T) {
			uuid := rapid.SampledFrom(modelUUIDs).Draw(t, "uuid")
			chans := rapid.SliceOfNDistinct(rapid.SampledFrom(modelChannels), 0, 3, rapid.ID[string]).Draw(t, "channels")
			groups := rapid.SliceOfNDistinct(rapid.SampledFrom(modelGroups), 0, 2, rapid.ID[string]).Draw(t, "groups")
			err := b.Leave(ctx, presence.LeaveRequest{UUID: uuid, Channels: chans, Groups: groups})
			if noTargets(t, "Leave", chans, groups, err) {
				return
			}
			if err != nil {
				t.Fatalf("Leave: %v", err)
			}
			m.leave(uuid, m.expand(chans, groups))
		},
		"SetState": func(t *rapid.T) {
			uuid := rapid.SampledFrom(modelUUIDs).Draw(t, "uuid")
			chans := rapid.SliceOfNDistinct(rapid.SampledFrom(modelChannels), 0, 2, rapid.ID[string]).Draw(t, "channels")
			groups := rapid.SliceOfNDistinct(rapid.SampledFrom(modelGroups), 0, 1, rapid.ID[string]).Draw(t, "groups")
			st := rapid.SampledFrom(modelStates).Draw(t, "state")
			got, err := b.SetState(ctx, presence.SetStateRequest{UUID: uuid, Channels: chans, Groups: groups, State: json.RawMessage(st)})
			if noTargets(t, "SetState", chans, groups, err) {
				return
			}
			if err != nil {
				t.Fatalf("SetState: %v", err)
			}
			if c := canon(st); string(got) != orEmpty(c) {
				t.Fatalf("SetState returned %s, want %s", got, orEmpty(c))
			}
			m.setState(uuid, m.expand(chans, groups), canon(st))
		},
		"GroupEdit": func(t *rapid.T) {
			g := rapid.SampledFrom(modelGroups).Draw(t, "group")
			chans := rapid.SliceOfN(rapid.SampledFrom(modelChannels), 1, 3).Draw(t, "channels")
			switch rapid.IntRange(0, 2).Draw(t, "edit") {
			case 0:
				if err := b.AddChannels(ctx, g, chans); err != nil {
					t.Fatalf("AddChannels: %v", err)
				}
				for _, c := range chans {
					if !slices.Contains(m.groups[g], c) {
						m.groups[g] = append(m.groups[g], c)
					}
				}
			case 1:
				if err := b.RemoveChannels(ctx, g, chans); err != nil {
					t.Fatalf("RemoveChannels: %v", err)
				}
				m.groups[g] = slices.DeleteFunc(m.groups[g], func(c string) bool { return slices.Contains(chans, c) })
				if len(m.groups[g]) == 0 {
					delete(m.groups, g)
				}
			default:
				if err := b.DeleteGroup(ctx, g); err != nil {
					t.Fatalf("DeleteGroup: %v", err)
				}
				delete(m.groups, g)
			}
		},
		"Invalid": func(t *rapid.T) {
			bad := rapid.SampledFrom([]string{"a,b", "", "x-pnpres", "tab\t"}).Draw(t, "bad")
			uuid := rapid.SampledFrom(modelUUIDs).Draw(t, "uuid")
			var err error
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0:
				err = b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: []string{"c0", bad}})
			case 1:
				err = b.Leave(ctx, presence.LeaveRequest{UUID: uuid, Channels: []string{"c1"}, Groups: []string{bad}})
			case 2:
				_, err = b.SetState(ctx, presence.SetStateRequest{UUID: uuid, Channels: []string{"c0", bad}, State: json.RawMessage(`{"a":1}`)})
			default:
				_, err = b.SetState(ctx, presence.SetStateRequest{UUID: uuid, Channels: []string{"c0"}, State: json.RawMessage(`[1]`)})
				if !errors.Is(err, presence.ErrInvalidState) {
					t.Fatalf("SetState([1]) = %v, want ErrInvalidState", err)
				}
				return
			}
			if !errors.Is(err, presence.ErrInvalidName) {
				t.Fatalf("a call naming %q: %v, want ErrInvalidName", bad, err)
			}
		},
		"Advance": func(t *rapid.T) {
			d := rapid.SampledFrom([]time.Duration{0, 500 * time.Millisecond, time.Second, 3 * time.Second, 10 * time.Second, 29 * time.Second, 31 * time.Second, 61 * time.Second}).Draw(t, "advance")
			clk.Add(d)
			m.now = m.now.Add(d)
			if err := b.Sweep(ctx); err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			m.sweep()
			sweepStep = true
		},
		"": func(t *rapid.T) {
			m.check(t, b, sub, sweepStep)
			sweepStep = false
		},
	})
}

type mMember struct {
	deadline time.Time
	state    string
}

type mPending struct {
	state   string
	expires time.Time
}

type mInterval struct {
	next   time.Time
	deltas []presence.Delta
}

type model struct {
	cfg     presence.Config
	now     time.Time
	members map[string]map[string]*mMember
	pending map[string]map[string]*mPending
	groups  map[string][]string
	iv      map[string]*mInterval
	want    map[string][]string        // expected events per channel since the last check
	rebuilt map[string]map[string]bool // memberships replayed from the event stream
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

func (m *model) expand(chans, groups []string) []string {
	var out []string
	for _, c := range chans {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, g := range groups {
		for _, c := range m.groups[g] {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

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

func (m *model) emit(c string, a presence.Action, uuid string, state string, deltas []presence.Delta) {
	m.want[c] = append(m.want[c], render(a, uuid, len(m.members[c]), state, deltas))
}

func (m *model) announce(c string, a presence.Action, uuid, state string) {
	occ := len(m.members[c])
	if am := m.cfg.AnnounceMax; am >= 0 {
		if iv := m.iv[c]; iv != nil {
			iv.deltas = append(iv.deltas, presence.Delta{Action: a, UUID: uuid})
			if occ <= am {
				m.emit(c, presence.Interval, "", "", iv.deltas)
				delete(m.iv, c)
			}
			return
		}
		if occ > am {
			m.iv[c] = &mInterval{next: m.now.Add(m.cfg.Interval), deltas: []presence.Delta{{Action: a, UUID: uuid}}}
			return
		}
	}
	m.emit(c, a, uuid, state, nil)
}

func (m *model) remove(c, uuid string, a presence.Action) {
	delete(m.members[c], uuid)
	m.announce(c, a, uuid, "")
	if len(m.members[c]) == 0 {
		delete(m.members, c)
	}
}

func (m *model) dropPending(c, uuid string) {
	delete(m.pending[c], uuid)
	if len(m.pending[c]) == 0 {
		delete(m.pending, c)
	}
}

func (m *model) heartbeat(uuid string, chans, groups []string, timeout time.Duration, state map[string]any) {
	if timeout == 0 {
		timeout = m.cfg.DefaultTimeout
	}
	timeout = max(m.cfg.MinTimeout, min(timeout, m.cfg.MaxTimeout))
	for _, c := range m.expand(chans, groups) {
		st, has := "", false
		if v, ok := state[c]; ok && slices.Contains(chans, c) {
			st, has = canon(string(v.(json.RawMessage))), true
		} else {
			for _, g := range groups {
				if v, ok := state[g]; ok && slices.Contains(m.groups[g], c) {
					st, has = canon(string(v.(json.RawMessage))), true
					break
				}
			}
		}
		if mm := m.members[c][uuid]; mm != nil {
			if mm.deadline.After(m.now) {
				mm.deadline = m.now.Add(timeout)
				if has && st != mm.state {
					mm.state = st
					m.emit(c, presence.StateChange, uuid, orEmpty(st), nil)
				}
				continue
			}
			m.remove(c, uuid, presence.Timeout)
		}
		joinState := st
		if p := m.pending[c][uuid]; p != nil && !has && p.expires.After(m.now) {
			joinState = p.state
		}
		m.dropPending(c, uuid)
		if m.members[c] == nil {
			m.members[c] = map[string]*mMember{}
		}
		m.members[c][uuid] = &mMember{deadline: m.now.Add(timeout), state: joinState}
		m.announce(c, presence.Join, uuid, joinState)
	}
}

func (m *model) leave(uuid string, chans []string) {
	for _, c := range chans {
		if mm := m.members[c][uuid]; mm != nil {
			a := presence.Leave
			if !mm.deadline.After(m.now) {
				a = presence.Timeout
			}
			m.remove(c, uuid, a)
		}
		m.dropPending(c, uuid)
	}
}

func (m *model) setState(uuid string, chans []string, st string) {
	for _, c := range chans {
		if mm := m.members[c][uuid]; mm != nil {
			if mm.deadline.After(m.now) {
				mm.state = st
				m.emit(c, presence.StateChange, uuid, orEmpty(st), nil)
				continue
			}
			m.remove(c, uuid, presence.Timeout)
		}
		if st == "" {
			m.dropPending(c, uuid)
			continue
		}
		if m.pending[c] == nil {
			m.pending[c] = map[string]*mPending{}
		}
		m.pending[c][uuid] = &mPending{state: st, expires: m.now.Add(m.cfg.DefaultTimeout)}
	}
}

func (m *model) sweep() {
	for _, c := range slices.Sorted(maps.Keys(m.members)) {
		for _, u := range slices.Sorted(maps.Keys(m.members[c])) {
			if !m.members[c][u].deadline.After(m.now) {
				m.remove(c, u, presence.Timeout)
			}
		}
	}
	for _, c := range slices.Sorted(maps.Keys(m.iv)) {
		iv := m.iv[c]
		if iv.next.After(m.now) {
			continue
		}
		m.emit(c, presence.Interval, "", "", iv.deltas)
		iv.deltas = nil
		for !iv.next.After(m.now) {
			iv.next = iv.next.Add(m.cfg.Interval)
		}
	}
	for c, ps := range m.pending {
		for u, p := range ps {
			if !p.expires.After(m.now) {
				m.dropPending(c, u)
			}
		}
	}
}

// normalize makes a sweep's events of one channel comparable: the order of
// simultaneous timeouts is the backend's choice, so uuids are compared as a
// multiset and the sequence without them.
func normalize(evs []string) (seq []string, uuids []string) {
	for _, e := range evs {
		f := strings.Fields(e)
		var rest []string
		if f[0] == "interval" { // "interval occupancy deltas…": no uuid, no state
			rest = []string{f[0], f[1]}
			for _, d := range f[2:] {
				a, u, _ := strings.Cut(d, ":")
				rest = append(rest, a)
				uuids = append(uuids, u)
			}
			slices.Sort(rest[2:])
		} else {
			rest = append([]string{f[0], f[2]}, f[3:]...)
			uuids = append(uuids, f[1])
		}
		seq = append(seq, strings.Join(rest, " "))
	}
	slices.Sort(uuids)
	return seq, uuids
}

func (m *model) check(t *rapid.T, b presence.Backend, sub *presence.Subscription, sweepStep bool) {
	if err := b.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	// events, per channel
	got := map[string][]string{}
	for done := false; !done; {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				t.Fatalf("subscription closed: %v", sub.Err())
			}
			state := string(ev.State)
			got[ev.Channel] = append(got[ev.Channel], render(ev.Action, ev.UUID, ev.Occupancy, state, ev.Deltas))
			m.replay(t, ev)
		default:
			done = true
		}
	}
	for _, c := range slices.Sorted(maps.Keys(mergeKeys(got, m.want))) {
		g, w := got[c], m.want[c]
		if sweepStep {
			gs, gu := normalize(g)
			ws, wu := normalize(w)
			if !slices.Equal(gs, ws) || !slices.Equal(gu, wu) {
				t.Fatalf("sweep events of %s:\n got %q\nwant %q", c, g, w)
			}
		} else if !slices.Equal(g, w) {
			t.Fatalf("events of %s:\n got %q\nwant %q", c, g, w)
		}
	}
	m.want = map[string][]string{}

	// here_now, global, with state
	r, err := b.HereNow(ctx, presence.HereNowQuery{IncludeState: true})
	if err != nil {
		t.Fatalf("HereNow: %v", err)
	}
	gotHN := map[string]string{}
	for _, cp := range r.Channels {
		var occ []string
		for _, o := range cp.Occupants {
			occ = append(occ, o.UUID+"="+string(o.State))
		}
		slices.Sort(occ)
		gotHN[cp.Channel] = fmt.Sprint(cp.Occupancy, occ)
	}
	wantHN := map[string]string{}
	total := 0
	for c, ms := range m.members {
		var occ []string
		for u, mm := range ms {
			occ = append(occ, u+"="+mm.state)
		}
		slices.Sort(occ)
		wantHN[c] = fmt.Sprint(len(ms), occ)
		total += len(ms)
	}
	if !maps.Equal(gotHN, wantHN) || r.TotalOccupancy != total || r.TotalChannels != len(wantHN) {
		t.Fatalf("here_now at %v:\n got %v\nwant %v", m.now.Sub(Epoch), gotHN, wantHN)
	}
	// where_now and get_state of every uuid
	uuids := 0
	for _, u := range modelUUIDs {
		where, err := b.WhereNow(ctx, u)
		if err != nil {
			t.Fatalf("WhereNow(%s): %v", u, err)
		}
		var want []string
		wantState := map[string]string{}
		for _, c := range modelChannels {
			if mm := m.members[c][u]; mm != nil {
				want = append(want, c)
				if mm.state != "" {
					wantState[c] = mm.state
				}
			} else if p := m.pending[c][u]; p != nil && p.expires.After(m.now) {
				wantState[c] = p.state
			}
		}
		if len(want) > 0 {
			uuids++
		}
		if !slices.Equal(where, want) && !(len(where) == 0 && len(want) == 0) {
			t.Fatalf("WhereNow(%s) = %q, want %q", u, where, want)
		}
		st, err := b.GetState(ctx, presence.GetStateRequest{UUID: u, Channels: modelChannels})
		if err != nil {
			t.Fatalf("GetState(%s): %v", u, err)
		}
		gotState := map[string]string{}
		for c, s := range st {
			gotState[c] = string(s)
		}
		if !maps.Equal(gotState, wantState) {
			t.Fatalf("GetState(%s) = %v, want %v", u, gotState, wantState)
		}
	}
	st, err := b.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	if st.Memberships != total || st.Channels != len(m.members) || st.UUIDs != uuids {
		t.Fatalf("Stats = %+v, want %d memberships, %d channels, %d uuids", st, total, len(m.members), uuids)
	}
	// the stream rebuilds the memberships of every channel in announce mode
	for _, c := range modelChannels {
		if m.iv[c] != nil {
			continue
		}
		var want, got []string
		for u := range m.members[c] {
			want = append(want, u)
		}
		for u := range m.rebuilt[c] {
			got = append(got, u)
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			t.Fatalf("memberships of %s rebuilt from events = %q, want %q", c, got, want)
		}
	}
}

// replay applies ev to the memberships rebuilt from the stream and checks
// the occupancy it carries.
func (m *model) replay(t *rapid.T, ev presence.Event) {
	set := m.rebuilt[ev.Channel]
	if set == nil {
		set = map[string]bool{}
		m.rebuilt[ev.Channel] = set
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
	// stream only catches up with at the next interval event; the exact
	// comparison with the model checks it
	if ev.Action != presence.StateChange && ev.Occupancy != len(set) {
		t.Fatalf("%s event on %s carries occupancy %d, the stream replays to %d", ev.Action, ev.Channel, ev.Occupancy, len(set))
	}
}

func mergeKeys(a, b map[string][]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
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
