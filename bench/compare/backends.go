// backends.go holds the Backend interface and its four implementations: the
// presence engine, centrifuge's MemoryPresenceManager, centrifuge's
// MemoryMapBroker used for presence with key TTLs, and the floor of two
// plain Go maps.

package compare

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centrifugal/centrifuge"
	"github.com/presencekit/presence"
)

// Backend is what every compared implementation does with one membership:
// the uuid is a name, the channel an index into the workload's Channels.
// Methods panic on an error, which none of the backends returns for this
// workload. All methods are safe for concurrent use.
type Backend interface {
	// Heartbeat makes uuid present on channel c: a join when it is absent, a
	// refresh of its deadline (where the backend has one) when present.
	Heartbeat(uuid string, c int)
	// Leave removes uuid from channel c.
	Leave(uuid string, c int)
	// HereNow lists every uuid present on channel c and returns how many
	// it listed.
	HereNow(c int) int
	// Occupancy returns the number of uuids present on channel c.
	Occupancy(c int) int
	// Close releases the backend's goroutines.
	Close()
}

// Names of the backends, as they appear in benchmark names.
const (
	NameEngine   = "engine"
	NamePresence = "centrifuge-presence"
	NameMap      = "centrifuge-map"
	NameFloor    = "floor"
	// NameIface is the engine called through the presence.Backend
	// interface, as the server and other backend-agnostic code call it.
	NameIface = "engine-iface"
)

// Names lists the backends in the order the benchmarks run them.
var Names = []string{NameEngine, NamePresence, NameMap, NameFloor, NameIface}

// New returns the backend called name (one of Names) for w. The engine gets
// presence.New's default Config.
func New(name string, w *Workload) Backend {
	switch name {
	case NameEngine:
		return NewEngine(w, presence.Config{})
	case NamePresence:
		return NewPresence(w)
	case NameMap:
		return NewMap(w, 0)
	case NameFloor:
		return NewFloor(w)
	case NameIface:
		e := NewEngine(w, presence.Config{})
		return &Iface{Engine: *e, B: e.E}
	}
	panic("compare: unknown backend " + name)
}

// Fill makes every membership of w.Pairs present on b, in w's shuffled
// order, with the uuid names taken from uuids (w.UUIDs or a copy of it).
func Fill(b Backend, w *Workload, uuids []string) {
	for _, p := range w.Pairs {
		b.Heartbeat(uuids[p.U], int(p.C))
	}
}

// FillHot makes w.HotMembers present on the hot channel.
func FillHot(b Backend, w *Workload) {
	for _, u := range w.HotMembers {
		b.Heartbeat(w.UUIDs[u], w.HotChannel)
	}
}

// ctx is the context of the engine's calls: the in-memory engine does not
// consult it, so one shared value costs nothing per call.
var ctx = context.Background()

// Engine is the presence engine as a Backend.
type Engine struct {
	E *presence.Engine
	w *Workload
}

// NewEngine returns an engine configured by cfg.
func NewEngine(w *Workload, cfg presence.Config) *Engine {
	e, err := presence.New(cfg)
	if err != nil {
		panic(err)
	}
	return &Engine{E: e, w: w}
}

// Heartbeat implements Backend with a one-channel heartbeat of the default
// timeout. The channel slice is built for each call, as a caller holding
// one channel name builds it (it stays on the stack: no allocation).
func (b *Engine) Heartbeat(uuid string, c int) {
	if err := b.E.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: []string{b.w.Channels[c]}}); err != nil {
		panic(err)
	}
}

// Leave implements Backend, with a channel slice built for each call.
func (b *Engine) Leave(uuid string, c int) {
	if err := b.E.Leave(ctx, presence.LeaveRequest{UUID: uuid, Channels: []string{b.w.Channels[c]}}); err != nil {
		panic(err)
	}
}

// HereNow implements Backend. here_now pages by at most 1000 occupants (as
// PubNub's does), so a channel of more is listed with one call per page.
func (b *Engine) HereNow(c int) int {
	n := 0
	for off := 0; ; off += presence.DefaultHereNowLimit {
		r, err := b.E.HereNow(ctx, presence.HereNowQuery{Channels: b.w.ChanSlices[c], Offset: off})
		if err != nil {
			panic(err)
		}
		cp := r.Channels[0]
		n += len(cp.Occupants)
		if off+presence.DefaultHereNowLimit >= cp.Occupancy {
			return n
		}
	}
}

// Occupancy implements Backend.
func (b *Engine) Occupancy(c int) int {
	n, err := b.E.Occupancy(ctx, b.w.Channels[c])
	if err != nil {
		panic(err)
	}
	return n
}

// Close implements Backend.
func (b *Engine) Close() { _ = b.E.Close() }

// Iface is the engine called through the presence.Backend interface: the
// compiler cannot see that a dynamic call's request does not outlive it,
// so the one-channel slice built for each call is allocated on the heap.
type Iface struct {
	Engine
	B presence.Backend // Engine.E, held as the interface
}

// Heartbeat implements Backend through presence.Backend.
func (b *Iface) Heartbeat(uuid string, c int) {
	if err := b.B.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: []string{b.w.Channels[c]}}); err != nil {
		panic(err)
	}
}

// Leave implements Backend through presence.Backend.
func (b *Iface) Leave(uuid string, c int) {
	if err := b.B.Leave(ctx, presence.LeaveRequest{UUID: uuid, Channels: []string{b.w.Channels[c]}}); err != nil {
		panic(err)
	}
}

// Presence is centrifuge's MemoryPresenceManager as a Backend: the uuid is
// both the client id and the user id, and each add stores a new ClientInfo,
// as a centrifuge client's presence update does.
type Presence struct {
	node *centrifuge.Node
	m    *centrifuge.MemoryPresenceManager
	w    *Workload
}

// NewPresence returns an empty MemoryPresenceManager.
func NewPresence(w *Workload) *Presence {
	node, err := centrifuge.New(centrifuge.Config{})
	if err != nil {
		panic(err)
	}
	m, err := centrifuge.NewMemoryPresenceManager(node, centrifuge.MemoryPresenceManagerConfig{})
	if err != nil {
		panic(err)
	}
	return &Presence{node: node, m: m, w: w}
}

// Heartbeat implements Backend with AddPresence.
func (b *Presence) Heartbeat(uuid string, c int) {
	if err := b.m.AddPresence(b.w.Channels[c], uuid, &centrifuge.ClientInfo{ClientID: uuid, UserID: uuid}); err != nil {
		panic(err)
	}
}

// Leave implements Backend with RemovePresence.
func (b *Presence) Leave(uuid string, c int) {
	if err := b.m.RemovePresence(b.w.Channels[c], uuid, uuid); err != nil {
		panic(err)
	}
}

// HereNow implements Backend with Presence.
func (b *Presence) HereNow(c int) int {
	p, err := b.m.Presence(b.w.Channels[c])
	if err != nil {
		panic(err)
	}
	return len(p)
}

// Occupancy implements Backend with PresenceStats (NumClients).
func (b *Presence) Occupancy(c int) int {
	s, err := b.m.PresenceStats(b.w.Channels[c])
	if err != nil {
		panic(err)
	}
	return s.NumClients
}

// Close implements Backend.
func (b *Presence) Close() {
	_ = b.m.Close(context.Background())
	_ = b.node.Shutdown(context.Background())
}

// Map is centrifuge's MemoryMapBroker used for presence the way centrifuge's
// own map presence channels use it: a recoverable map channel per presence
// channel, keyed by uuid, with a key TTL; a heartbeat is a publish with
// KeyModeIfNew and RefreshTTLOnSuppress (a join event for a new key, a TTL
// refresh otherwise), a leave is Remove, and an expired key is removed with
// a removal publication by the broker's expiry goroutine (real clock, once a
// second).
type Map struct {
	node *centrifuge.Node
	m    *centrifuge.MemoryMapBroker
	w    *Workload
	ttl  time.Duration

	// deadline, when non-zero (UnixNano), makes every key published from
	// now on expire at that instant instead of after ttl.
	deadline atomic.Int64
	// Removed counts removal publications (leaves and expiries); LastRemoved
	// is the UnixNano time of the latest.
	Removed     atomic.Int64
	LastRemoved atomic.Int64
}

// NewMap returns an empty MemoryMapBroker whose keys live ttl (zero means
// 300 s, the engine's default presence timeout).
func NewMap(w *Workload, ttl time.Duration) *Map {
	if ttl == 0 {
		ttl = 300 * time.Second
	}
	b := &Map{w: w, ttl: ttl}
	node, err := centrifuge.New(centrifuge.Config{
		Map: centrifuge.MapConfig{GetMapChannelOptions: b.channelOptions},
	})
	if err != nil {
		panic(err)
	}
	m, err := centrifuge.NewMemoryMapBroker(node, centrifuge.MemoryMapBrokerConfig{})
	if err != nil {
		panic(err)
	}
	if err := m.RegisterEventHandler(mapHandler{b}); err != nil {
		panic(err)
	}
	b.node, b.m = node, m
	return b
}

// ExpireAt makes every key published from now on expire at t.
func (b *Map) ExpireAt(t time.Time) { b.deadline.Store(t.UnixNano()) }

func (b *Map) channelOptions(string) centrifuge.MapChannelOptions {
	ttl := b.ttl
	if d := b.deadline.Load(); d != 0 {
		ttl = max(time.Duration(d-time.Now().UnixNano()), time.Millisecond)
	}
	return centrifuge.MapChannelOptions{Mode: centrifuge.MapModeRecoverable, KeyTTL: ttl}
}

// mapHandler receives the broker's publications; it counts removals.
type mapHandler struct{ b *Map }

func (h mapHandler) HandlePublication(_ string, pub *centrifuge.Publication, _ centrifuge.StreamPosition, _ bool, _ *centrifuge.Publication) error {
	if pub.Removed {
		h.b.Removed.Add(1)
		h.b.LastRemoved.Store(time.Now().UnixNano())
	}
	return nil
}
func (h mapHandler) HandleJoin(string, *centrifuge.ClientInfo) error  { return nil }
func (h mapHandler) HandleLeave(string, *centrifuge.ClientInfo) error { return nil }

// Heartbeat implements Backend with Publish(KeyModeIfNew,
// RefreshTTLOnSuppress).
func (b *Map) Heartbeat(uuid string, c int) {
	_, err := b.m.Publish(context.Background(), b.w.Channels[c], uuid, centrifuge.MapPublishOptions{
		ClientInfo:           &centrifuge.ClientInfo{ClientID: uuid, UserID: uuid},
		KeyMode:              centrifuge.KeyModeIfNew,
		RefreshTTLOnSuppress: true,
	})
	if err != nil {
		panic(err)
	}
}

// Leave implements Backend with Remove.
func (b *Map) Leave(uuid string, c int) {
	if _, err := b.m.Remove(context.Background(), b.w.Channels[c], uuid, centrifuge.MapRemoveOptions{}); err != nil {
		panic(err)
	}
}

// HereNow implements Backend with ReadState of every key.
func (b *Map) HereNow(c int) int {
	r, err := b.m.ReadState(context.Background(), b.w.Channels[c], centrifuge.MapReadStateOptions{Limit: -1})
	if err != nil {
		panic(err)
	}
	return len(r.Publications)
}

// Occupancy implements Backend with Stats (NumKeys).
func (b *Map) Occupancy(c int) int {
	s, err := b.m.Stats(context.Background(), b.w.Channels[c])
	if err != nil {
		panic(err)
	}
	return s.NumKeys
}

// Close implements Backend.
func (b *Map) Close() {
	_ = b.m.Close(context.Background())
	_ = b.node.Shutdown(context.Background())
}

// floorShards is the number of lock shards of each of the floor's maps.
const floorShards = 64

// Floor is the least a presence store can do: two plain Go maps, channel →
// uuid → deadline and uuid → set of channels, each split in 64 shards with a
// mutex, and no events, expiry, validation or paging.
type Floor struct {
	seed  maphash.Seed
	w     *Workload
	chans [floorShards]struct {
		sync.Mutex
		m map[string]map[string]int64
		_ [40]byte
	}
	uuids [floorShards]struct {
		sync.Mutex
		m map[string]map[string]struct{}
		_ [40]byte
	}
}

// NewFloor returns an empty Floor.
func NewFloor(w *Workload) *Floor {
	f := &Floor{seed: maphash.MakeSeed(), w: w}
	for i := range f.chans {
		f.chans[i].m = make(map[string]map[string]int64)
		f.uuids[i].m = make(map[string]map[string]struct{})
	}
	return f
}

func (f *Floor) shard(s string) int { return int(maphash.String(f.seed, s) % floorShards) }

// Heartbeat implements Backend: the deadline is set, and the uuid index
// entry added when the member is new.
func (f *Floor) Heartbeat(uuid string, c int) {
	ch := f.w.Channels[c]
	deadline := time.Now().Add(300 * time.Second).UnixNano()
	cs := &f.chans[f.shard(ch)]
	cs.Lock()
	members := cs.m[ch]
	if members == nil {
		members = make(map[string]int64)
		cs.m[ch] = members
	}
	_, present := members[uuid]
	members[uuid] = deadline
	cs.Unlock()
	if present {
		return
	}
	us := &f.uuids[f.shard(uuid)]
	us.Lock()
	set := us.m[uuid]
	if set == nil {
		set = make(map[string]struct{}, 4)
		us.m[uuid] = set
	}
	set[ch] = struct{}{}
	us.Unlock()
}

// Leave implements Backend.
func (f *Floor) Leave(uuid string, c int) {
	ch := f.w.Channels[c]
	cs := &f.chans[f.shard(ch)]
	cs.Lock()
	members := cs.m[ch]
	_, present := members[uuid]
	if present {
		delete(members, uuid)
		if len(members) == 0 {
			delete(cs.m, ch)
		}
	}
	cs.Unlock()
	if !present {
		return
	}
	us := &f.uuids[f.shard(uuid)]
	us.Lock()
	if set := us.m[uuid]; set != nil {
		delete(set, ch)
		if len(set) == 0 {
			delete(us.m, uuid)
		}
	}
	us.Unlock()
}

// HereNow implements Backend: it copies the channel's uuids into a slice.
func (f *Floor) HereNow(c int) int {
	ch := f.w.Channels[c]
	cs := &f.chans[f.shard(ch)]
	cs.Lock()
	members := cs.m[ch]
	out := make([]string, 0, len(members))
	for u := range members {
		out = append(out, u)
	}
	cs.Unlock()
	return len(out)
}

// Occupancy implements Backend.
func (f *Floor) Occupancy(c int) int {
	ch := f.w.Channels[c]
	cs := &f.chans[f.shard(ch)]
	cs.Lock()
	n := len(cs.m[ch])
	cs.Unlock()
	return n
}

// Close implements Backend; the floor has no goroutines.
func (f *Floor) Close() {}
