// handler.go holds Handler, its Options, New, Close and ServeHTTP: the
// request limits and the routing of each parsed request (request.go) to its
// call. The presence calls are in presence.go, channel registration in
// groups.go, and subscribe with its event log in subscribe.go.

package pubnubhttp

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
)

// Defaults of Options' zero fields.
const (
	DefaultMaxURLBytes     = 32 << 10
	DefaultPollTimeout     = 280 * time.Second
	DefaultMaxPollsPerUUID = 3
	DefaultMaxPolls        = 10000
	DefaultLogSize         = 1 << 16
	DefaultMaxMessages     = 100
	DefaultHandshakeReplay = time.Second
	DefaultCallTimeout     = 10 * time.Second
)

// Options tunes a Handler. The zero value is ready to use; every field says
// what its zero means. The presence settings (timeouts, name limits, the
// clock) are the backend's own, read from its Config.
type Options struct {
	// MaxURLBytes bounds the request target; a longer one is answered 414.
	// Zero means 32 KiB, PubNub's limit. An http.Server refuses a request
	// line longer than its MaxHeaderBytes with 431 before the handler sees
	// it: set MaxHeaderBytes above MaxURLBytes (cmd/presenced uses 1 MiB).
	MaxURLBytes int
	// MaxNames bounds the names one request lists: the path's channels plus
	// the channel-group parameter's groups, "-pnpres" names included. Zero
	// means twice the backend's Config.MaxNamesPerCall, so that a subscribe
	// naming each of its channels with its presence twin fits exactly when
	// its distinct names do.
	MaxNames int

	// PollTimeout is how long a subscribe long-poll is held when nothing
	// happens. Zero means 280 s (PubNub holds about 280-320 s; the SDKs
	// wait 310 s).
	PollTimeout time.Duration
	// MaxPollsPerUUID bounds the long-polls held at once for one uuid; a
	// new one beyond it ends the oldest (answered at once with no events).
	// Zero means 3.
	MaxPollsPerUUID int
	// MaxPolls bounds the long-polls held at once; a new one beyond it is
	// answered 503. Zero means 10000.
	MaxPolls int
	// LogSize is the number of presence events kept for subscribers to
	// catch up on; a subscriber whose cursor fell out of it is told to
	// resync. Zero means 65536.
	LogSize int
	// HandshakeReplay is how far before a subscribe handshake (tt=0) its
	// first long-poll starts reading events: a client that heartbeats and
	// subscribes at once, as the JS SDK does, then receives its own join,
	// and so does one whose join was made by the handshake itself. Zero
	// means 1 s; negative means none (the first long-poll reads events
	// after the handshake only).
	HandshakeReplay time.Duration
	// MaxMessages bounds the events of one subscribe response. Zero means
	// 100.
	MaxMessages int
	// CallTimeout bounds each backend call a request makes (a network
	// backend that cannot answer in time makes the request a 503). Zero
	// means 10 s. The in-memory *presence.Engine never waits, so its calls
	// get the request's context as it is, without a timer of their own.
	CallTimeout time.Duration

	// Authorizer, when set, is asked about every request but /time/0
	// before it touches the backend; a refusal is answered in PubNub's
	// Access Manager envelope and changes nothing (see Authorizer). Nil
	// means every request is allowed, whatever its sub key. Package pam
	// implements PubNub's Access Manager.
	Authorizer Authorizer
}

func (o Options) withDefaults(cfg presence.Config) Options {
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt(&o.MaxURLBytes, DefaultMaxURLBytes)
	defInt(&o.MaxNames, 2*max(cfg.MaxNamesPerCall, 1))
	defInt(&o.MaxPollsPerUUID, DefaultMaxPollsPerUUID)
	defInt(&o.MaxPolls, DefaultMaxPolls)
	defInt(&o.LogSize, DefaultLogSize)
	defInt(&o.MaxMessages, DefaultMaxMessages)
	if o.PollTimeout <= 0 {
		o.PollTimeout = DefaultPollTimeout
	}
	if o.HandshakeReplay == 0 {
		o.HandshakeReplay = DefaultHandshakeReplay
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	return o
}

// Handler serves PubNub's presence REST API over a presence backend:
// here_now, where_now, heartbeat, leave, set and get state, channel
// registration, /time/0, and subscribe for presence events. It accepts any
// sub key, unless Options.Authorizer refuses it.
//
// A Handler is safe for concurrent use. It runs one goroutine that copies
// the backend's events into its event log; Close stops it and ends every
// held long-poll. Closing the Handler does not close the backend.
type Handler struct {
	b     presence.Backend
	cfg   presence.Config // b.Config(): timeouts and the clock
	waits bool            // b may wait (it is not the in-memory engine): calls get CallTimeout
	opt   Options
	log   *eventLog
	poll  pollTable

	groupVersion atomic.Uint64 // bumped by every group edit made here
	wakeups      atomic.Uint64 // held long-polls woken by an entry that may concern them
	parks        atomic.Uint64 // long-polls parked (park.go)
	parkQ        parkQueue     // the parked polls' workers
	ctx          context.Context
	cancel       context.CancelFunc // ends ctx at Close
	done         chan struct{}
	closeOnce    sync.Once
	wg           sync.WaitGroup
}

// New returns a Handler serving b with opt. It reads b's Config for the
// presence timeouts, the name limit and the clock (the time of /time/0 and
// of subscribe cursors), and subscribes to all of b's events; it returns
// the backend's error if that fails (a closed backend).
func New(b presence.Backend, opt Options) (*Handler, error) {
	if b == nil {
		return nil, errors.New("pubnubhttp: nil backend")
	}
	cfg := withConfigDefaults(b.Config())
	opt = opt.withDefaults(cfg)
	h := &Handler{b: b, cfg: cfg, opt: opt, done: make(chan struct{})}
	_, inMemory := b.(*presence.Engine)
	h.waits = !inMemory
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.poll.init()
	h.log = newEventLog(opt.LogSize, timetoken(h.now()))
	ctx, cancel := context.WithTimeout(h.ctx, opt.CallTimeout)
	defer cancel()
	sub, err := b.Subscribe(ctx, presence.SubscribeOptions{All: true})
	if err != nil {
		h.cancel()
		return nil, err
	}
	h.wg.Add(1)
	go h.pump(sub)
	return h, nil
}

// withConfigDefaults fills the zero fields of a backend's Config that the
// handler reads, in case a backend returns them unfilled.
func withConfigDefaults(c presence.Config) presence.Config {
	if c.Clock == nil {
		c.Clock = clock.New()
	}
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&c.DefaultTimeout, presence.DefaultTimeout}, {&c.MinTimeout, presence.DefaultMinTimeout}, {&c.MaxTimeout, presence.DefaultMaxTimeout}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	for _, d := range []struct {
		v   *int
		def int
	}{{&c.MaxNamesPerCall, presence.DefaultMaxNamesPerCall}, {&c.MaxNameBytes, presence.DefaultMaxNameBytes}, {&c.MaxStateBytes, presence.DefaultMaxStateBytes}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	return c
}

// Close ends every held long-poll (each is answered with no events and its
// cursor, so clients reconnect cleanly), parked ones included (see
// Listen: http.Server.Shutdown does not know their connections), stops the
// event goroutine and waits for it. Later subscribes are answered at once.
// It is idempotent and returns nil.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() {
		close(h.done)
		h.poll.closeParked()
		h.parkQ.stop()
		h.cancel()
		h.wg.Wait()
	})
	return nil
}

// now is the backend's clock's time.
func (h *Handler) now() time.Time { return h.cfg.Clock.Now() }

// ServeHTTP answers one PubNub REST request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	service := servicePresence
	if len(target) > h.opt.MaxURLBytes {
		writeError(w, service, &apiError{http.StatusRequestURITooLong,
			"Request URI Too Long: " + itoa(len(target)) + " bytes, at most " + itoa(h.opt.MaxURLBytes)})
		return
	}
	req, err := parseRequest(target)
	if err != nil {
		if errors.Is(err, errNotFound) {
			writeError(w, service, &apiError{http.StatusNotFound, "Not Found: no PubNub presence call at " + quote(r.URL.Path)})
			return
		}
		writeError(w, service, badRequest(err.Error()))
		return
	}
	switch req.route {
	case routeListGroups, routeGroup, routeDeleteGroup:
		service = serviceRegistry
	case routeTime:
		service = serviceTime
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		writeError(w, service, &apiError{http.StatusMethodNotAllowed, "Method Not Allowed: " + quote(r.Method) + ", only GET"})
		return
	}
	groups := req.query.list("channel-group")
	if n := len(req.channels) + len(groups); n > h.opt.MaxNames {
		writeError(w, service, badRequest("Too many channels: "+itoa(n)+" channels and groups in one request, at most "+itoa(h.opt.MaxNames)))
		return
	}
	switch req.route {
	case routeHeartbeat, routeLeave, routeSetState, routeGetState, routeSubscribe:
		if len(req.channels)+len(groups) == 0 {
			// PubNub answers 400 for a call that names nothing to act on.
			writeError(w, service, badRequest("Missing channels: "+req.route.String()+" needs a channel in the path or a channel-group parameter"))
			return
		}
	}
	if h.opt.Authorizer != nil {
		if err := h.authorize(r, req, groups); err != nil {
			writeError(w, service, err)
			return
		}
	}
	if req.route == routeSubscribe {
		// A long-poll is bounded by PollTimeout; its calls get their own
		// deadlines.
		if err := h.subscribe(w, r, req, groups); err != nil {
			writeError(w, service, err)
		}
		return
	}
	ctx := r.Context()
	if h.waits {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.opt.CallTimeout)
		defer cancel()
	}
	switch req.route {
	case routeTime:
		writeJSON(w, http.StatusOK, []int64{timetoken(h.now())})
	case routeHereNow, routeGlobalHereNow:
		err = h.hereNow(ctx, w, req, groups)
	case routeWhereNow:
		err = h.whereNow(ctx, w, req)
	case routeHeartbeat:
		err = h.heartbeat(ctx, w, req, groups)
	case routeLeave:
		err = h.leave(ctx, w, req, groups)
	case routeSetState:
		err = h.setState(ctx, w, req, groups)
	case routeGetState:
		err = h.getState(ctx, w, req, groups)
	case routeListGroups:
		err = h.listGroups(ctx, w, req)
	case routeGroup:
		err = h.editGroup(ctx, w, req)
	case routeDeleteGroup:
		err = h.deleteGroup(ctx, w, req)
	}
	if err != nil {
		writeError(w, service, err)
	}
}

// timetoken is PubNub's 17-digit time: 100 ns units since the Unix epoch.
func timetoken(t time.Time) int64 { return t.UnixNano() / 100 }
