// Package dashboard serves a live presence dashboard for any presence
// backend: the busiest channels with their occupancy, a channel's occupants
// with their state, a live feed of join, leave, timeout, state-change and
// interval events, and occupancy over the last minutes as a chart.
//
// The page, its script and its style are embedded in the binary (no build
// step, nothing loaded from another site: it works offline) and talk to the
// handler's small JSON API and a server-sent-events stream:
//
//	GET /                       the page
//	GET /api/overview           counters, settings and the busiest channels
//	GET /api/channel?name=NAME  a channel's occupancy and occupants with state
//	GET /api/history            samples of the counters and busiest channels
//	GET /api/events             server-sent events: recent events, then live ones
//
// The busiest channels are kept from the events (each carries its
// channel's occupancy), so a channel in interval mode is updated at its
// interval events; a channel's occupants are read from the backend when
// shown. It shows uuids and their state to whoever can reach it: serve it
// on an admin listener, never on the public address.
//
//	d, err := dashboard.New(backend, dashboard.Options{})
//	defer d.Close()
//	admin.Handle("/", d)
package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/internal/watch"
)

//go:embed static
var static embed.FS

// Defaults of Options' zero fields.
const (
	DefaultTopChannels = 20
	DefaultSample      = time.Second
	DefaultHistory     = 10 * time.Minute
	DefaultRecent      = 100
	DefaultOccupants   = 200
)

// Options configure a dashboard. The zero value works.
type Options struct {
	// Title names the deployment in the page's header. Zero means
	// "presence".
	Title string
	// PublicURL is the address PubNub clients use (the server's public
	// listener), shown in the page's first-steps hint. Zero means the hint
	// names no address.
	PublicURL string
	// TopChannels is how many of the busiest channels the page lists and
	// each sample keeps. Zero means 20; at most 1000.
	TopChannels int
	// Sample is the period of the chart's samples. Zero means 1 s.
	Sample time.Duration
	// History is how far back the chart goes. Zero means 10 minutes; at
	// most 10,000 samples are kept.
	History time.Duration
	// Recent is how many recent events a newly opened page is sent first.
	// Zero means 100.
	Recent int
	// Occupants bounds the occupants listed for one channel. Zero means
	// 200.
	Occupants int
	// Timeout bounds each backend call the dashboard makes. Zero means 5 s.
	Timeout time.Duration
}

// Handler serves the dashboard of one backend. It holds one subscription
// to all of the backend's events (renewed when it is closed as slow) and a
// goroutine that samples the counters; Close stops both. It is safe for
// concurrent use.
type Handler struct {
	b    presence.Backend
	opts Options
	mux  *http.ServeMux
	w    *watch.Watcher

	mu      sync.Mutex
	recent  []eventJSON // ring of the last opts.Recent events
	next    int         // where the next event goes in recent
	clients map[*client]struct{}
	samples []sample // ring of the last samples
	first   int      // oldest sample in samples once it is full

	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once
}

// New returns a dashboard of b. It returns an error for an out-of-range
// option or a nil backend.
func New(b presence.Backend, opts Options) (*Handler, error) {
	if b == nil {
		return nil, errors.New("dashboard: nil backend")
	}
	if opts.Title == "" {
		opts.Title = "presence"
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.TopChannels, DefaultTopChannels)
	def(&opts.Recent, DefaultRecent)
	def(&opts.Occupants, DefaultOccupants)
	defDur(&opts.Sample, DefaultSample)
	defDur(&opts.History, DefaultHistory)
	defDur(&opts.Timeout, 5*time.Second)
	switch {
	case opts.TopChannels < 0 || opts.TopChannels > 1000:
		return nil, fmt.Errorf("dashboard: invalid TopChannels %d: must be 1..1000", opts.TopChannels)
	case opts.Recent < 0 || opts.Recent > 10000:
		return nil, fmt.Errorf("dashboard: invalid Recent %d: must be 1..10000", opts.Recent)
	case opts.Occupants < 0 || opts.Occupants > 1000:
		return nil, fmt.Errorf("dashboard: invalid Occupants %d: must be 1..1000", opts.Occupants)
	case opts.Sample < 0 || opts.History < 0 || opts.Timeout < 0:
		return nil, fmt.Errorf("dashboard: invalid Sample %v, History %v or Timeout %v: must not be negative", opts.Sample, opts.History, opts.Timeout)
	case opts.History/opts.Sample > 10000:
		return nil, fmt.Errorf("dashboard: invalid History %v: more than 10000 samples of %v", opts.History, opts.Sample)
	}
	h := &Handler{
		b: b, opts: opts,
		recent:  make([]eventJSON, 0, opts.Recent),
		clients: make(map[*client]struct{}),
		done:    make(chan struct{}),
	}
	h.w = watch.Start(b, watch.Options{
		Occupancy: true, Buffer: 4096, OnEvent: h.onEvent,
		OnRenew:  func(error) { h.onGap() },
		OnResync: func(string) { h.onGap() },
	})

	assets, _ := fs.Sub(static, "static")
	h.mux = http.NewServeMux()
	h.mux.Handle("GET /", http.FileServerFS(assets))
	h.mux.HandleFunc("GET /api/overview", h.overview)
	h.mux.HandleFunc("GET /api/channel", h.channel)
	h.mux.HandleFunc("GET /api/history", h.history)
	h.mux.HandleFunc("GET /api/events", h.events)

	h.wg.Add(1)
	go h.sampler()
	return h, nil
}

// ServeHTTP serves the page, its assets and its API.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:")
	h.mux.ServeHTTP(w, r)
}

// Close stops the sampler and the event subscription and ends every open
// event stream. It does not close the backend. It is idempotent.
func (h *Handler) Close() {
	h.once.Do(func() {
		close(h.done)
		h.w.Close()
		h.wg.Wait()
	})
}

// eventJSON is an event as the page receives it.
type eventJSON struct {
	Action    string          `json:"action"`
	Channel   string          `json:"channel"`
	UUID      string          `json:"uuid,omitempty"`
	Occupancy int             `json:"occupancy"`
	State     json.RawMessage `json:"state,omitempty"`
	Time      int64           `json:"time"`           // Unix ms
	Late      *float64        `json:"late,omitempty"` // timeouts: seconds after the deadline
	Joined    []string        `json:"joined,omitempty"`
	Left      []string        `json:"left,omitempty"`
	TimedOut  []string        `json:"timedout,omitempty"`
	Refresh   bool            `json:"refresh,omitempty"`
}

func toJSON(ev presence.Event) eventJSON {
	j := eventJSON{
		Action: ev.Action.String(), Channel: ev.Channel, UUID: ev.UUID, Occupancy: ev.Occupancy,
		State: ev.State, Time: ev.Time.UnixMilli(), Refresh: ev.HereNowRefresh,
	}
	if ev.Action == presence.Timeout && !ev.Deadline.IsZero() {
		late := max(0, ev.Time.Sub(ev.Deadline).Seconds())
		j.Late = &late
	}
	if ev.Action == presence.Interval {
		j.Joined, j.Left, j.TimedOut = ev.Joined(), ev.Left(), ev.TimedOut()
	}
	return j
}

// onEvent keeps ev among the recent ones and hands it to every open
// stream, never waiting for one.
func (h *Handler) onEvent(ev presence.Event) {
	j := toJSON(ev)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.recent) < cap(h.recent) {
		h.recent = append(h.recent, j)
	} else if len(h.recent) > 0 {
		h.recent[h.next] = j
		h.next = (h.next + 1) % len(h.recent)
	}
	for c := range h.clients {
		c.send(j)
	}
}

// onGap tells every open stream that events were lost: the dashboard's
// subscription was renewed, or the backend lost events.
func (h *Handler) onGap() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		c.lost()
	}
}

// recentLocked returns the recent events, oldest first.
func (h *Handler) recentLocked() []eventJSON {
	out := make([]eventJSON, 0, len(h.recent))
	out = append(out, h.recent[h.next:]...)
	return append(out, h.recent[:h.next]...)
}

// channelJSON is a channel and its occupancy.
type channelJSON struct {
	Channel   string `json:"channel"`
	Occupancy int    `json:"occupancy"`
}

// sample is one point of the chart.
type sample struct {
	Time        int64         `json:"time"` // Unix ms
	Memberships int           `json:"memberships"`
	UUIDs       int           `json:"uuids"`
	Channels    int           `json:"channels"`
	Top         []channelJSON `json:"top"`
}

func (h *Handler) top() []channelJSON {
	top := h.w.Top(h.opts.TopChannels)
	out := make([]channelJSON, len(top))
	for i, c := range top {
		out[i] = channelJSON{c.Name, c.Occupancy}
	}
	return out
}

// sampler records a sample every opts.Sample until Close.
func (h *Handler) sampler() {
	defer h.wg.Done()
	t := time.NewTicker(h.opts.Sample)
	defer t.Stop()
	max := max(1, int(h.opts.History/h.opts.Sample))
	for {
		h.takeSample(max)
		select {
		case <-h.done:
			return
		case <-t.C:
		}
	}
}

func (h *Handler) takeSample(max int) {
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.Timeout)
	st, err := h.b.Stats(ctx)
	cancel()
	if err != nil {
		return // a gap in the chart shows the outage
	}
	s := sample{Time: h.b.Config().Clock.Now().UnixMilli(), Memberships: st.Memberships, UUIDs: st.UUIDs, Channels: st.Channels, Top: h.top()}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.samples) < max {
		h.samples = append(h.samples, s)
		return
	}
	h.samples[h.first] = s
	h.first = (h.first + 1) % len(h.samples)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

// backendStatus is the HTTP status for a backend error: 503 when the
// backend is unavailable or closed, else 400 (bad input).
func backendStatus(err error) int {
	if errors.Is(err, presence.ErrUnavailable) || errors.Is(err, presence.ErrClosed) ||
		errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	st, err := h.b.Stats(ctx)
	if err != nil {
		writeError(w, backendStatus(err), err)
		return
	}
	cfg := h.b.Config()
	annMax := cfg.AnnounceMax
	if annMax == presence.AlwaysIntervalMode {
		annMax = 0
	}
	writeJSON(w, map[string]any{
		"title":         h.opts.Title,
		"publicURL":     h.opts.PublicURL,
		"memberships":   st.Memberships,
		"channels":      st.Channels,
		"uuids":         st.UUIDs,
		"groups":        st.Groups,
		"subscriptions": st.Subscriptions,
		"top":           h.top(),
		"synced":        h.w.Synced(),
		"settings": map[string]any{
			"defaultTimeout": cfg.DefaultTimeout.Seconds(),
			"minTimeout":     cfg.MinTimeout.Seconds(),
			"maxTimeout":     cfg.MaxTimeout.Seconds(),
			"announceMax":    annMax, // -1: interval mode off
			"interval":       cfg.Interval.Seconds(),
		},
		"sample":  h.opts.Sample.Milliseconds(),
		"history": h.opts.History.Milliseconds(),
	})
}

func (h *Handler) channel(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if name == "" {
		writeError(w, http.StatusBadRequest, errors.New("dashboard: missing channel name: ?name=CHANNEL"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	res, err := h.b.HereNow(ctx, presence.HereNowQuery{Channels: []string{name}, IncludeState: true, Limit: h.opts.Occupants})
	if err != nil {
		writeError(w, backendStatus(err), err)
		return
	}
	type occupant struct {
		UUID  string          `json:"uuid"`
		State json.RawMessage `json:"state,omitempty"`
	}
	out := struct {
		Channel   string     `json:"channel"`
		Occupancy int        `json:"occupancy"`
		Occupants []occupant `json:"occupants"`
	}{Channel: name, Occupants: []occupant{}}
	if c, ok := res.Channel(name); ok {
		out.Occupancy = c.Occupancy
		for _, o := range c.Occupants {
			out.Occupants = append(out.Occupants, occupant{o.UUID, o.State})
		}
	}
	writeJSON(w, out)
}

// history returns the samples, oldest first; with ?since=MS only those
// taken after that Unix time in milliseconds.
func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	var since int64
	if s := r.URL.Query().Get("since"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("dashboard: invalid since %q: want Unix milliseconds", s))
			return
		}
		since = v
	}
	h.mu.Lock()
	out := make([]sample, 0, len(h.samples))
	for _, part := range [][]sample{h.samples[h.first:], h.samples[:h.first]} {
		for _, s := range part {
			if s.Time > since {
				out = append(out, s)
			}
		}
	}
	h.mu.Unlock()
	writeJSON(w, out)
}

// client is one open event stream: events wait in a buffer for its
// writer; when the buffer is full the events are counted as skipped.
type client struct {
	ch      chan eventJSON
	skipped int  // guarded by Handler.mu
	gap     bool // the watcher's subscription was renewed; guarded by Handler.mu
	wake    chan struct{}
}

// send queues j for the stream without waiting. Caller holds Handler.mu.
func (c *client) send(j eventJSON) {
	select {
	case c.ch <- j:
	default:
		c.skipped++
		c.notify()
	}
}

// lost notes that events were lost upstream. Caller holds Handler.mu.
func (c *client) lost() {
	c.gap = true
	c.notify()
}

func (c *client) notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// events streams the recent events, "event: ready", and then every new one
// as server-sent events ("event: presence"), plus "event: skipped" with a count when the
// page cannot keep up and "event: gap" when the dashboard's own
// subscription lost events. A comment line every 15 s keeps proxies from
// closing an idle stream.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	c := &client{ch: make(chan eventJSON, 1024), wake: make(chan struct{}, 1)}
	h.mu.Lock()
	backlog := h.recentLocked()
	h.clients[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.clients, c)
		h.mu.Unlock()
	}()

	write := func(event string, v any) bool {
		b, _ := json.Marshal(v)
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
		return err == nil
	}
	fmt.Fprint(w, "retry: 2000\n\n")
	for _, j := range backlog {
		if !write("presence", j) {
			return
		}
	}
	if !write("ready", map[string]int{"recent": len(backlog)}) || rc.Flush() != nil {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-c.wake:
			h.mu.Lock()
			skipped, gap := c.skipped, c.gap
			c.skipped, c.gap = 0, false
			h.mu.Unlock()
			if skipped > 0 && !write("skipped", map[string]int{"count": skipped}) {
				return
			}
			if gap && !write("gap", map[string]bool{"gap": true}) {
				return
			}
		case j := <-c.ch:
			if !write("presence", j) {
				return
			}
			// write what else is waiting before one flush
			for n := len(c.ch); n > 0; n-- {
				if !write("presence", <-c.ch) {
					return
				}
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}
