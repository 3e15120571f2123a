package pubnubhttp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presencekit/presence"
)

// serveOn serves f's handler on a loopback listener, through Listen when
// park is true, and returns its address.
func (f *fixture) serveOn(park bool) string {
	f.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.t.Fatal(err)
	}
	addr := ln.Addr().String()
	if park {
		ln = Listen(ln)
	}
	srv := &http.Server{Handler: f.h}
	go func() { _ = srv.Serve(ln) }()
	f.t.Cleanup(func() {
		_ = f.h.Close() // answers the parked polls, which Close below does not know
		_ = srv.Close()
	})
	return addr
}

// client is one keep-alive connection writing raw requests.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes GET requests for targets in one write (pipelined when more
// than one).
func (c *client) send(targets ...string) {
	c.t.Helper()
	var b bytes.Buffer
	for _, t := range targets {
		b.WriteString("GET " + t + " HTTP/1.1\r\nHost: presence\r\n\r\n")
	}
	if _, err := c.c.Write(b.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

// read reads one response and returns its status and body.
func (c *client) read() (code int, body []byte) {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	res, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	body, err = io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("reading a body: %v", err)
	}
	return res.StatusCode, body
}

// readRaw reads the only response the connection gets, as it came.
func (c *client) readRaw() []byte {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	var buf bytes.Buffer
	res, err := http.ReadResponse(bufio.NewReader(io.TeeReader(c.br, &buf)), nil)
	if err != nil {
		c.t.Fatalf("reading a response: %v", err)
	}
	if _, err := io.ReadAll(res.Body); err != nil {
		c.t.Fatalf("reading a body: %v", err)
	}
	return buf.Bytes()
}

// readEnvelope reads one subscribe response, wanting 200.
func (c *client) readEnvelope() envelope {
	c.t.Helper()
	code, body := c.read()
	if code != 200 {
		c.t.Fatalf("status %d body %s, want 200", code, body)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		c.t.Fatalf("body %s: %v", body, err)
	}
	return env
}

// pastJoin makes the handshake of path, which joins, and returns the
// cursor after the join.
func (f *fixture) pastJoin(path string) string {
	f.t.Helper()
	cursor := f.subscribe(path).cursor(f.t)
	return f.subscribe(path + "&tt=" + strconv.FormatInt(cursor, 10)).T.T
}

// TestParkedPollWakes: a long-poll on a connection from Listen is parked
// (its connection leaves net/http), wakes for an event of its channel
// only, is answered on the connection, and the connection serves the next
// keep-alive request.
func TestParkedPollWakes(t *testing.T) {
	f := newFixture(t, presence.Config{AnnounceMax: -1}, Options{})
	addr := f.serveOn(true)
	path := "/v2/subscribe/k/x-pnpres/0?uuid=listener"
	cursor := f.subscribe(path).cursor(t)
	c := dial(t, addr)
	c.send(path + "&tt=" + strconv.FormatInt(cursor, 10))
	waitFor(t, func() bool { return f.h.parks.Load() == 1 && f.h.log.waiting() == 1 })
	before := f.h.log.lastCursor()
	for i := range 20 {
		f.heartbeat("u"+strconv.Itoa(i), "y")
	}
	waitFor(t, func() bool { return f.h.log.lastCursor() >= before+20 })
	if n := f.h.Wakeups(); n != 0 {
		t.Errorf("parked poll on x woken %d times by events of y, want 0", n)
	}
	f.heartbeat("v", "x")
	env := c.readEnvelope()
	if len(env.M) != 1 || env.M[0].C != "x-pnpres" {
		t.Fatalf("got %+v, want the join of v on x-pnpres", env)
	}
	if n := f.h.Wakeups(); n != 1 {
		t.Errorf("Wakeups %d, want 1", n)
	}
	waitFor(t, func() bool { return f.h.HeldPolls() == 0 })
	// The connection serves the next requests: another parked poll, then
	// a plain one.
	c.send(path + "&tt=" + env.T.T)
	waitFor(t, func() bool { return f.h.parks.Load() == 2 })
	f.heartbeat("w", "x")
	if env := c.readEnvelope(); len(env.M) != 1 {
		t.Fatalf("second poll on the connection: %+v, want one message", env)
	}
	c.send("/time/0")
	if code, body := c.read(); code != 200 || !bytes.HasPrefix(body, []byte("[")) {
		t.Errorf("/time/0 after parked polls: status %d body %s", code, body)
	}
}

var dateLine = regexp.MustCompile(`(?m)^Date: .*\r$`)

// TestParkedAnswerBytes: a parked poll's answer is, byte for byte but
// for the Date, the one net/http writes for a held poll; the parked one
// times out as the held one does.
func TestParkedAnswerBytes(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{PollTimeout: 200 * time.Millisecond})
	parkedAddr, heldAddr := f.serveOn(true), f.serveOn(false)
	path := "/v2/subscribe/k/x-pnpres/0?uuid=listener"
	tt := strconv.FormatInt(f.subscribe(path).cursor(t), 10)
	var got [2][]byte
	for i, addr := range []string{parkedAddr, heldAddr} {
		c := dial(t, addr)
		c.send(path + "&tt=" + tt)
		got[i] = c.readRaw()
		got[i] = dateLine.ReplaceAll(got[i], []byte("Date: -\r"))
	}
	if f.h.parks.Load() != 1 {
		t.Errorf("%d polls parked, want 1 (the one through Listen)", f.h.parks.Load())
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Errorf("parked answer:\n%q\nheld answer:\n%q", got[0], got[1])
	}
	if !bytes.Contains(got[0], []byte(`"t":{"r":1,"t":"`+tt+`"}`)) {
		t.Errorf("timed out answer %q, want no events and cursor %s", got[0], tt)
	}
}

// TestParkedPollEvicted: a newer poll of the same uuid ends a parked one,
// which is answered at once with no events.
func TestParkedPollEvicted(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{MaxPollsPerUUID: 1})
	addr := f.serveOn(true)
	path := "/v2/subscribe/k/x-pnpres/0?uuid=l"
	tt := strconv.FormatInt(f.subscribe(path).cursor(t), 10)
	first, second := dial(t, addr), dial(t, addr)
	first.send(path + "&tt=" + tt)
	waitFor(t, func() bool { return f.h.parks.Load() == 1 })
	second.send(path + "&tt=" + tt)
	if env := first.readEnvelope(); len(env.M) != 0 || env.T.T != tt {
		t.Errorf("evicted poll: %+v, want no events and cursor %s", env, tt)
	}
	waitFor(t, func() bool { return f.h.parks.Load() == 2 && f.h.HeldPolls() == 1 })
}

// TestParkedPollsAnsweredOnClose: Close answers parked polls, whose
// connections http.Server.Shutdown does not know.
func TestParkedPollsAnsweredOnClose(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	addr := f.serveOn(true)
	path := "/v2/subscribe/k/x-pnpres/0?uuid=l"
	tt := strconv.FormatInt(f.subscribe(path).cursor(t), 10)
	var cs []*client
	for i := range 5 {
		c := dial(t, addr)
		c.send(path + strconv.Itoa(i) + "&tt=" + tt)
		cs = append(cs, c)
	}
	waitFor(t, func() bool { return f.h.parks.Load() == 5 })
	if err := f.h.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if env := c.readEnvelope(); len(env.M) != 0 || env.T.T != tt {
			t.Errorf("poll at Close: %+v, want no events and cursor %s", env, tt)
		}
	}
	if n := f.h.HeldPolls(); n != 0 {
		t.Errorf("%d polls held after Close, want 0", n)
	}
}

// countingBackend counts the heartbeats made through it.
type countingBackend struct {
	presence.Backend
	heartbeats atomic.Int64
}

func (b *countingBackend) Heartbeat(ctx context.Context, r presence.HeartbeatRequest) error {
	b.heartbeats.Add(1)
	return b.Backend.Heartbeat(ctx, r)
}

// countingFixture is a fixture whose handler heartbeats through a
// countingBackend.
func countingFixture(t *testing.T, cfg presence.Config) (*fixture, *countingBackend) {
	f := newFixture(t, cfg, Options{})
	b := &countingBackend{Backend: f.eng}
	h, err := New(b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	f.h = h
	return f, b
}

// TestParkedPollClientGone: a parked poll that joins stops renewing its
// heartbeat when its client has gone (found at the next renewal), so the
// member times out as it would with a held poll.
func TestParkedPollClientGone(t *testing.T) {
	f, b := countingFixture(t, presence.Config{MinTimeout: time.Second, AnnounceMax: -1})
	addr := f.serveOn(true)
	path := "/v2/subscribe/k/x,x-pnpres/0?uuid=u&heartbeat=1"
	tt := f.pastJoin(path)
	c := dial(t, addr)
	c.send(path + "&tt=" + tt)
	waitFor(t, func() bool { return f.h.parks.Load() == 1 })
	_ = c.c.Close()
	// Renewals come every 500 ms; the one after the close ends the poll.
	waitFor(t, func() bool { return f.h.HeldPolls() == 0 })
	n := b.heartbeats.Load()
	time.Sleep(1500 * time.Millisecond) // three renewal intervals
	if got := b.heartbeats.Load(); got != n {
		t.Errorf("%d heartbeats after the client went, want 0", got-n)
	}
}

// TestParkedPollRenews: a parked poll that joins renews its heartbeat
// while its client is connected.
func TestParkedPollRenews(t *testing.T) {
	f, b := countingFixture(t, presence.Config{MinTimeout: time.Second, AnnounceMax: -1})
	addr := f.serveOn(true)
	path := "/v2/subscribe/k/x,x-pnpres/0?uuid=u&heartbeat=1"
	tt := f.pastJoin(path)
	c := dial(t, addr)
	c.send(path + "&tt=" + tt)
	waitFor(t, func() bool { return f.h.parks.Load() == 1 })
	n := b.heartbeats.Load()
	waitFor(t, func() bool { return b.heartbeats.Load() >= n+2 })
	if got := f.h.HeldPolls(); got != 1 {
		t.Errorf("%d polls held, want 1", got)
	}
}

// TestParkedPollPipelined: a request pipelined behind a parked poll is
// kept and served after the poll's answer, in order.
func TestParkedPollPipelined(t *testing.T) {
	f := newFixture(t, presence.Config{AnnounceMax: -1}, Options{})
	addr := f.serveOn(true)
	path := "/v2/subscribe/k/x-pnpres/0?uuid=l"
	tt := strconv.FormatInt(f.subscribe(path).cursor(t), 10)
	c := dial(t, addr)
	c.send(path+"&tt="+tt, "/time/0")
	waitFor(t, func() bool { return f.h.parks.Load() == 1 && f.h.log.waiting() == 1 })
	f.heartbeat("v", "x")
	if env := c.readEnvelope(); len(env.M) != 1 {
		t.Fatalf("pipelined poll: %+v, want the join of v", env)
	}
	if code, body := c.read(); code != 200 || !bytes.HasPrefix(body, []byte("[")) {
		t.Errorf("/time/0 pipelined behind the poll: status %d body %s", code, body)
	}
}

// TestListenClose: closing Listen's listener ends Serve, and a parked
// poll answered afterwards closes its connection rather than wait to be
// accepted again.
func TestListenClose(t *testing.T) {
	f := newFixture(t, presence.Config{}, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pl := Listen(ln)
	srv := &http.Server{Handler: f.h}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pl) }()
	path := "/v2/subscribe/k/x-pnpres/0?uuid=l"
	tt := strconv.FormatInt(f.subscribe(path).cursor(t), 10)
	c := dial(t, ln.Addr().String())
	c.send(path + "&tt=" + tt)
	waitFor(t, func() bool { return f.h.parks.Load() == 1 })
	if err := pl.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; !errors.Is(err, net.ErrClosed) {
		t.Errorf("Serve: %v, want net.ErrClosed", err)
	}
	_ = f.h.Close()
	c.readEnvelope()
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Errorf("after the answer: %v, want EOF (the connection closed)", err)
	}
}

// TestHeldWithoutPark: requests a parked answer could not serve as net/http
// would (HTTP/1.0, Connection: close, a body) are held on their goroutine,
// and answered as before.
func TestHeldWithoutPark(t *testing.T) {
	f := newFixture(t, presence.Config{AnnounceMax: -1}, Options{})
	addr := f.serveOn(true)
	path := "/v2/subscribe/k/x-pnpres/0?uuid=l"
	tt := strconv.FormatInt(f.subscribe(path).cursor(t), 10)
	for i, head := range []string{
		"GET %s HTTP/1.0\r\n\r\n",
		"GET %s HTTP/1.1\r\nHost: presence\r\nConnection: close\r\n\r\n",
		"GET %s HTTP/1.1\r\nHost: presence\r\nContent-Length: 2\r\n\r\n{}",
	} {
		c := dial(t, addr)
		if _, err := io.WriteString(c.c, fmt.Sprintf(head, path+strconv.Itoa(i)+"&tt="+tt)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return f.h.HeldPolls() == 1 })
		if n := f.h.parks.Load(); n != 0 {
			t.Fatalf("request %d parked, want it held", i)
		}
		f.heartbeat("v"+strconv.Itoa(i), "x")
		env := c.readEnvelope()
		if len(env.M) != 1 {
			t.Fatalf("request %d: %+v, want one join", i, env)
		}
		tt = env.T.T
		waitFor(t, func() bool { return f.h.HeldPolls() == 0 })
	}
}
