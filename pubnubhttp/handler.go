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

	"github.com/presencekit/presence"
)

// Defaults of Options' zero fields.
const (
	DefaultMaxURLBytes     = 32 << 10
	DefaultMaxNames        = 200
	DefaultPollTimeout     = 280 * time.Second
	DefaultMaxPollsPerUUID = 3
	DefaultMaxPolls        = 10000
	DefaultLogSize         = 1 << 16
	DefaultMaxMessages     = 100
	DefaultHandshakeReplay = time.Second
)

// Options tunes a Handler. The zero value is ready to use; every field says
// what its zero means.
type Options struct {
	// Engine is the Config the engine was created with. The handler reads
	// its timeouts (DefaultTimeout, MinTimeout, MaxTimeout) to renew the
	// presence of a held long-poll before it expires. Zero means the
	// engine's defaults.
	Engine presence.Config

	// MaxURLBytes bounds the request target; a longer one is answered 414.
	// Zero means 32 KiB, PubNub's limit.
	MaxURLBytes int
	// MaxNames bounds the names one request lists: the path's channels plus
	// the channel-group parameter's groups. Zero means 200 (a subscribe
	// with presence names each channel twice).
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

	// Now is the time of /time/0 and of the subscribe cursors. Zero means
	// time.Now. Pass the engine's clock's Now when it is not the real one.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt(&o.MaxURLBytes, DefaultMaxURLBytes)
	defInt(&o.MaxNames, DefaultMaxNames)
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
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &o.Engine
	if e.DefaultTimeout == 0 {
		e.DefaultTimeout = presence.DefaultTimeout
	}
	if e.MinTimeout == 0 {
		e.MinTimeout = presence.DefaultMinTimeout
	}
	if e.MaxTimeout == 0 {
		e.MaxTimeout = presence.DefaultMaxTimeout
	}
	return o
}

// Handler serves PubNub's presence REST API over an engine: here_now,
// where_now, heartbeat, leave, set and get state, channel registration,
// /time/0, and subscribe for presence events. It accepts any sub key.
//
// A Handler is safe for concurrent use. It runs one goroutine that copies
// the engine's events into its event log; Close stops it and ends every
// held long-poll. Closing the Handler does not close the engine.
type Handler struct {
	eng  *presence.Engine
	opt  Options
	log  *eventLog
	poll pollTable

	groupVersion atomic.Uint64 // bumped by every group edit made here
	done         chan struct{}
	closeOnce    sync.Once
	wg           sync.WaitGroup
}

// New returns a Handler serving eng with opt. It subscribes to all of eng's
// events; it returns the engine's error if that fails (a closed engine).
func New(eng *presence.Engine, opt Options) (*Handler, error) {
	if eng == nil {
		return nil, errors.New("pubnubhttp: nil engine")
	}
	opt = opt.withDefaults()
	h := &Handler{eng: eng, opt: opt, done: make(chan struct{})}
	h.poll.init()
	h.log = newEventLog(opt.LogSize, timetoken(opt.Now()))
	sub, err := eng.Subscribe(context.Background(), presence.SubscribeOptions{All: true})
	if err != nil {
		return nil, err
	}
	h.wg.Add(1)
	go h.pump(sub)
	return h, nil
}

// Close ends every held long-poll (each is answered with no events and its
// cursor, so clients reconnect cleanly), stops the event goroutine and waits
// for it. Later subscribes are answered at once. It is idempotent and
// returns nil.
func (h *Handler) Close() error {
	h.closeOnce.Do(func() {
		close(h.done)
		h.wg.Wait()
	})
	return nil
}

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
	ctx := r.Context()
	switch req.route {
	case routeTime:
		writeJSON(w, http.StatusOK, []int64{timetoken(h.opt.Now())})
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
	case routeSubscribe:
		err = h.subscribe(w, r, req, groups)
	}
	if err != nil {
		writeError(w, service, err)
	}
}

// timetoken is PubNub's 17-digit time: 100 ns units since the Unix epoch.
func timetoken(t time.Time) int64 { return t.UnixNano() / 100 }
