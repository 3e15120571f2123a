// park.go holds parked long-polls: a subscribe long-poll that has to wait,
// on a connection accepted through Listen (listen.go), takes its connection
// from net/http and waits without a goroutine: a waiter in the event log
// whose wake-up is a callback, one timer for its timeout and its heartbeat
// renewals, and an entry in the poll table. A small pool of workers does
// what its goroutine would have done when something happens to it (an
// entry for it, its timer, its eviction, Close): it reads the log, renews
// the heartbeat, or writes the response on the connection and gives the
// connection back to the listener.

package pubnubhttp

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/presencekit/presence"
)

// The signals a parked poll receives.
const (
	sigHit   uint8 = 1 << iota // an entry that may concern it was logged
	sigTimer                   // its timer fired: timeout or heartbeat renewal
	sigEvict                   // a newer poll of its uuid ended it
	sigClose                   // the handler is closing
)

// writeTimeout bounds the write of a parked poll's response, so that a
// client that does not read cannot hold a worker.
const writeTimeout = 10 * time.Second

// parked is one parked long-poll.
type parked struct {
	h     *Handler
	conn  net.Conn  // the hijacked connection
	pc    *parkConn // conn as the listener's, to give back; nil: close it after the answer
	s     *subscribeCall
	sel   *selector
	p     *poll
	timer *time.Timer

	// Owned by whoever runs the poll (its handler goroutine until it is
	// parked, then one worker at a time).
	wt       *waiter // its waiter in the log; nil while none
	after    int64   // the cursor it reads after
	deadline time.Time
	renewAt  time.Time     // its next heartbeat renewal, when it joins
	renew    time.Duration // the renewal interval; 0 when it joins nothing

	mu      sync.Mutex
	pending uint8 // signals not handled yet
	queued  bool  // run by a worker, or queued for one (or being parked)
	ended   bool  // answered or dropped: signals are ignored
}

// signal records sig and queues the poll for a worker unless it is queued
// or running already. It never blocks: it is called under the event log's
// and the poll table's locks.
func (pk *parked) signal(sig uint8) {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.ended {
		return
	}
	pk.pending |= sig
	if !pk.queued {
		pk.queued = true
		pk.h.parkQ.push(pk)
	}
}

// take returns the pending signals and clears them.
func (pk *parked) take() uint8 {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	f := pk.pending
	pk.pending = 0
	return f
}

// release ends a run: the poll is queued again if signals came meanwhile.
func (pk *parked) release() {
	pk.mu.Lock()
	defer pk.mu.Unlock()
	if pk.pending != 0 && !pk.ended {
		pk.h.parkQ.push(pk)
		return
	}
	pk.queued = false
}

// parkConnOf returns the parkConn r came on when its long-poll may be
// parked: a GET without a body over HTTP/1.1 without TLS, on a keep-alive
// connection accepted through Listen. (A body left unread would be read
// as the next request.)
func parkConnOf(r *http.Request) *parkConn {
	if r.TLS != nil || r.Method != http.MethodGet || r.ContentLength != 0 || r.Close || !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1 {
		return nil
	}
	a, _ := r.Context().Value(http.LocalAddrContextKey).(*parkAddr)
	if a == nil {
		return nil
	}
	return a.c
}

// park takes the long-poll's connection from net/http and parks it, to
// wait for entries after cursor after. It reports false, having changed
// nothing, when the connection cannot be taken: the caller then holds the
// poll itself.
func (h *Handler) park(w http.ResponseWriter, pc *parkConn, s *subscribeCall, sel *selector, p *poll, after int64) bool {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	h.parkQ.start() // before the first wake-up, rather than at it
	pk := &parked{h: h, conn: conn, s: s, sel: sel, p: p, after: after, queued: true}
	if conn == net.Conn(pc) {
		pk.pc = pc
		if n := brw.Reader.Buffered(); n > 0 {
			// A pipelined request: it is read after the answer.
			b, _ := brw.Reader.Peek(n)
			pc.pre = bytes.Clone(b)
		}
	}
	now := time.Now()
	pk.deadline = now.Add(h.opt.PollTimeout)
	next := pk.deadline
	if s.joins {
		pk.renew = max(h.effectiveTimeout(s.hb.Timeout)/2, 250*time.Millisecond)
		pk.renewAt = now.Add(pk.renew)
		if pk.renewAt.Before(next) {
			next = pk.renewAt
		}
	}
	if !h.poll.attach(p, pk) {
		// Evicted meanwhile, or the handler is closing.
		pk.answer(nil)
		return true
	}
	h.parks.Add(1)
	if pk.readOrWait() {
		return true
	}
	pk.timer = time.AfterFunc(next.Sub(now), func() { pk.signal(sigTimer) })
	pk.release()
	return true
}

// readOrWait reads the log after pk.after. When there is something to
// answer it answers and reports true; otherwise it leaves a waiter in the
// log, in the same step, and reports false.
func (pk *parked) readOrWait() bool {
	h := pk.h
	wt := &waiter{wake: pk}
	res, wt := h.log.readWaiter(pk.after, h.opt.MaxMessages, pk.sel, timetoken(h.now()), wt)
	if wt == nil {
		pk.answer(&res)
		return true
	}
	pk.wt, pk.after = wt, res.next
	return false
}

// run handles the signals f; a worker calls it, one at a time per poll.
func (pk *parked) run(f uint8) {
	h := pk.h
	if f&(sigEvict|sigClose) != 0 {
		pk.answer(nil)
		return
	}
	if f&sigHit != 0 && pk.wt != nil && pk.wt.hit != 0 {
		pk.after = h.log.release(pk.wt, pk.after)
		pk.wt = nil
		h.wakeups.Add(1)
		if pk.readOrWait() {
			return
		}
	}
	if f&sigTimer == 0 {
		return
	}
	now := time.Now()
	if !now.Before(pk.deadline) {
		pk.answer(nil)
		return
	}
	if pk.renew > 0 && !now.Before(pk.renewAt) {
		if !connAlive(pk.conn) {
			pk.drop() // the client is gone: its membership times out
			return
		}
		ctx, cancel := context.WithTimeout(h.ctx, h.opt.CallTimeout)
		err := h.b.Heartbeat(ctx, pk.s.hb)
		cancel()
		if errors.Is(err, presence.ErrClosed) {
			pk.answer(nil)
			return
		}
		pk.renewAt = now.Add(pk.renew)
	}
	next := pk.deadline
	if pk.renew > 0 && pk.renewAt.Before(next) {
		next = pk.renewAt
	}
	pk.timer.Reset(next.Sub(now))
}

// answer writes the poll's response, with res's entries (or its resync)
// when res is not nil, else with no events and the cursor to go on from,
// and ends the poll.
func (pk *parked) answer(res *readResult) {
	h := pk.h
	rw := newRawResponse()
	if res == nil {
		if pk.wt != nil {
			pk.after = h.log.release(pk.wt, pk.after)
			pk.wt = nil
		}
		writeSubscribe(rw, pk.after, nil)
	} else {
		ctx, cancel := context.WithTimeout(h.ctx, h.opt.CallTimeout)
		h.writeRead(ctx, rw, pk.s, res)
		cancel()
	}
	ok := pk.end()
	if !ok {
		return
	}
	_ = pk.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := pk.conn.Write(rw.bytes()); err != nil || pk.pc == nil {
		_ = pk.conn.Close()
		return
	}
	_ = pk.conn.SetWriteDeadline(time.Time{})
	pk.pc.ln.giveBack(pk.pc)
}

// drop ends the poll of a client that has gone, without an answer.
func (pk *parked) drop() {
	if pk.wt != nil {
		pk.after = pk.h.log.release(pk.wt, pk.after)
		pk.wt = nil
	}
	if pk.end() {
		_ = pk.conn.Close()
	}
}

// end marks the poll ended and takes it out of the poll table; it reports
// false when it had ended already.
func (pk *parked) end() bool {
	pk.mu.Lock()
	if pk.ended {
		pk.mu.Unlock()
		return false
	}
	pk.ended = true
	pk.mu.Unlock()
	if pk.timer != nil {
		pk.timer.Stop()
	}
	pk.h.poll.remove(pk.s.hb.UUID, pk.p)
	pk.h.poll.detach(pk.p)
	return true
}

// parkQueue is the queue of parked polls waiting for a worker, and the
// workers, started at the first poll parked.
type parkQueue struct {
	mu      sync.Mutex
	cond    sync.Cond
	items   []*parked
	started bool
	stopped bool
	workers sync.WaitGroup
}

// push queues pk and starts the workers the first time. It never blocks
// for long.
func (q *parkQueue) push(pk *parked) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	q.startLocked()
	q.items = append(q.items, pk)
	q.cond.Signal()
}

// start starts the workers unless they run (or were stopped).
func (q *parkQueue) start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stopped {
		q.startLocked()
	}
}

func (q *parkQueue) startLocked() {
	if q.started {
		return
	}
	q.started = true
	q.cond.L = &q.mu
	n := max(4, 2*runtime.GOMAXPROCS(0))
	q.workers.Add(n)
	for range n {
		go q.work()
	}
}

// work runs queued polls until stop.
func (q *parkQueue) work() {
	defer q.workers.Done()
	for {
		q.mu.Lock()
		for len(q.items) == 0 && !q.stopped {
			q.cond.Wait()
		}
		if len(q.items) == 0 {
			q.mu.Unlock()
			return
		}
		pk := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		if len(q.items) == 0 {
			q.items = nil // let the backing array go after a burst
		}
		q.mu.Unlock()
		pk.run(pk.take())
		pk.release()
	}
}

// stop ends the workers once the queue is empty and waits for them.
func (q *parkQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	if q.started {
		q.cond.Broadcast()
	}
	q.mu.Unlock()
	q.workers.Wait()
}

// rawResponse is an http.ResponseWriter that builds the bytes net/http
// would send for the response of a request on a keep-alive HTTP/1.1
// connection: the status line, the handler's headers sorted, Date, and the
// body (whose Content-Length the handler set).
type rawResponse struct {
	header http.Header
	status int
	body   []byte
}

func newRawResponse() *rawResponse { return &rawResponse{header: http.Header{}} }

func (w *rawResponse) Header() http.Header { return w.header }

func (w *rawResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *rawResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, b...)
	return len(b), nil
}

// bytes returns the response as sent on the wire.
func (w *rawResponse) bytes() []byte {
	var buf bytes.Buffer
	buf.Grow(256 + len(w.body))
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	buf.WriteString("HTTP/1.1 ")
	buf.WriteString(strconv.Itoa(status))
	buf.WriteByte(' ')
	buf.WriteString(http.StatusText(status))
	buf.WriteString("\r\n")
	_ = w.header.Write(&buf)
	buf.WriteString("Date: ")
	buf.WriteString(time.Now().UTC().Format(http.TimeFormat))
	buf.WriteString("\r\n\r\n")
	buf.Write(w.body)
	return buf.Bytes()
}
