package compare

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
)

// The server rows: heartbeat requests per second through an HTTP/1.1 server
// on loopback, at the workload's 1M memberships.
//
// impl=presenced serves pubnubhttp's Handler over the filled engine, each
// request a heartbeat of the next membership in the workload's shuffled
// order; impl=presenced-hot serves the same Handler over an engine that
// holds only the serverConns members its connections heartbeat, one each,
// so that the engine's part is small and always in cache: it is the
// handler's cost without the 1M memberships' (cache misses, and the
// collector marking their heap). impl=nethttp serves the floor, a bare http.HandlerFunc that parses the
// same URL (path split, query parse of uuid and heartbeat) and writes the
// same body and headers without touching any presence state. Both run in
// an http.Server configured as cmd/presenced configures its own, inside the
// benchmark process, driven by the same load generator: serverConns
// keep-alive connections over raw TCP, each sending one request and reading
// its whole response before the next (no pipelining), requests written from
// the workload's present memberships into a per-connection buffer (no
// allocation on the generator's side). The server runs in the benchmark
// process rather than a child process so that -cpuprofile and allocs/op see
// the server (the generator allocates nothing: allocs/op is the server's),
// and so that both sides share one layout: one Go runtime, GOMAXPROCS set
// by -cpu, the 2 cores shared by server and generator alike.
//
// Each row reports req/s (requests over the timed wall time), the p50 and
// p99 of the request latencies the generator saw (write to last byte read)
// in microseconds, the process's CPU time (user and system, server and
// generator) per request in microseconds, which background load on the
// machine disturbs less than the wall-clock figures, the part of it the
// garbage collector took (the runtime's estimate, gc-cpu-us/req), and
// allocs/op, B/op.

// serverConns is the number of keep-alive connections of the load generator.
const serverConns = 16

// serverSubKey is the sub key of the heartbeat requests.
const serverSubKey = "sub-c-bench"

// heartbeatBody is the body both servers answer a heartbeat with: the one
// pubnubhttp writes (checked on every response of both rows).
var heartbeatBody = []byte(`{"message":"OK","service":"Presence","status":200}`)

// BenchmarkServerHeartbeat is a heartbeat of a present member (uuid on one
// of its channels, heartbeat=300) through an HTTP server on loopback.
func BenchmarkServerHeartbeat(b *testing.B) {
	for _, impl := range []string{"presenced", "presenced-hot", "nethttp"} {
		b.Run("impl="+impl, func(b *testing.B) { benchServer(b, impl) })
	}
}

func benchServer(b *testing.B, impl string) {
	w := workload()
	addr := startServer(b, impl)
	conns := make([]*loadConn, serverConns)
	for i := range conns {
		c, err := dialLoad(addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.close()
		conns[i] = c
	}
	// member is the membership request k heartbeats: the workload's in
	// its shuffled order, or for presenced-hot the one of its connection.
	member := func(i int, k int64) int { return int(k) }
	if impl == "presenced-hot" {
		member = func(i int, _ int64) int { return i }
	}
	// One request per connection before the clock starts, so that every
	// connection has its server goroutine and buffers (and presenced-hot's
	// members have joined).
	for i, c := range conns {
		if _, err := c.heartbeat(w, member(i, int64(i))); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	total := int64(b.N)
	lat := make([][]time.Duration, len(conns))
	errs := make(chan error, len(conns))
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, gc0 := cpuTime(), gcCPU()
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, b.N/len(conns)+1)
			for {
				k := next.Add(1)
				if k > total {
					break
				}
				d, err := c.heartbeat(w, member(i, k))
				if err != nil {
					errs <- err
					return
				}
				l = append(l, d)
			}
			lat[i] = l
		}()
	}
	wg.Wait()
	cpu, gc := cpuTime()-cpu0, gcCPU()-gc0
	b.StopTimer()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(quantile(all, 0.50), "p50-us")
	b.ReportMetric(quantile(all, 0.99), "p99-us")
	b.ReportMetric(float64(cpu)/float64(time.Microsecond)/float64(b.N), "cpu-us/req")
	b.ReportMetric(gc*1e6/float64(b.N), "gc-cpu-us/req")
}

// gcCPU returns the runtime's estimate of the CPU seconds spent in the
// garbage collector so far (background workers, assists and pauses).
func gcCPU() float64 {
	s := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindFloat64 {
		return 0
	}
	return s[0].Value.Float64()
}

// quantile returns the q-quantile of sorted in microseconds.
func quantile(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := min(int(q*float64(len(sorted))), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Microsecond)
}

// servers holds one server per impl, started once per process (the engine
// behind impl=presenced is the shared filled engine) and left running until
// the process exits.
var (
	serversMu sync.Mutex
	servers   = map[string]string{}
)

// startServer returns the address of impl's server, starting it on the
// first call.
func startServer(b *testing.B, impl string) string {
	serversMu.Lock()
	defer serversMu.Unlock()
	if addr, ok := servers[impl]; ok {
		return addr
	}
	var h http.Handler
	switch impl {
	case "presenced":
		e := filled(NameEngine).(*Engine).E
		ph, err := pubnubhttp.New(e, pubnubhttp.Options{})
		if err != nil {
			b.Fatal(err)
		}
		h = ph
	case "presenced-hot":
		e, err := presence.New(presence.Config{})
		if err != nil {
			b.Fatal(err)
		}
		ph, err := pubnubhttp.New(e, pubnubhttp.Options{})
		if err != nil {
			b.Fatal(err)
		}
		h = ph
	case "nethttp":
		h = http.HandlerFunc(floorHeartbeat)
	default:
		b.Fatalf("unknown server %q", impl)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	if impl != "nethttp" {
		ln = pubnubhttp.Listen(ln) // as cmd/presenced serves
	}
	// cmd/presenced's settings.
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
	}
	go func() { _ = srv.Serve(ln) }()
	servers[impl] = ln.Addr().String()
	return servers[impl]
}

// floorHeartbeat is the floor of any net/http server of heartbeats: it
// checks the path's shape, reads the channel, parses the query's uuid and
// heartbeat, and writes the heartbeat's body with pubnubhttp's headers.
func floorHeartbeat(w http.ResponseWriter, r *http.Request) {
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if len(seg) != 7 || seg[0] != "v2" || seg[1] != "presence" || seg[2] != "sub-key" || seg[4] != "channel" || seg[6] != "heartbeat" {
		http.Error(w, "not a heartbeat", http.StatusNotFound)
		return
	}
	q := r.URL.Query()
	uuid, channel := q.Get("uuid"), seg[5]
	timeout, err := strconv.Atoi(q.Get("heartbeat"))
	if uuid == "" || channel == "" || err != nil || timeout < 0 {
		http.Error(w, "bad heartbeat", http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", `text/javascript; charset="UTF-8"`)
	h.Set("Cache-Control", "no-cache")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET")
	h.Set("Server", "Pubnub Presence")
	h.Set("Content-Length", strconv.Itoa(len(heartbeatBody)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(heartbeatBody)
}

// loadConn is one keep-alive connection of the load generator.
type loadConn struct {
	c   net.Conn
	r   *bufio.Reader
	req []byte // the request being sent, rebuilt in place
}

func dialLoad(addr string) (*loadConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &loadConn{c: c, r: bufio.NewReaderSize(c, 4096), req: make([]byte, 0, 512)}, nil
}

func (c *loadConn) close() { _ = c.c.Close() }

// heartbeat sends the heartbeat of membership k (mod the workload's) and
// reads its response; it returns the time from the write to the last byte
// read, or an error for anything but a 200 with the heartbeat's body.
func (c *loadConn) heartbeat(w *Workload, k int) (time.Duration, error) {
	p := w.Pairs[k%len(w.Pairs)]
	req := append(c.req[:0], "GET /v2/presence/sub-key/"+serverSubKey+"/channel/"...)
	req = append(req, w.Channels[p.C]...)
	req = append(req, "/heartbeat?uuid="...)
	req = append(req, w.UUIDs[p.U]...)
	req = append(req, "&heartbeat=300 HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n"...)
	c.req = req
	start := time.Now()
	if _, err := c.c.Write(req); err != nil {
		return 0, err
	}
	if err := c.readResponse(); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// readResponse reads one response: a 200 status line, headers with a
// Content-Length, and a body equal to heartbeatBody.
func (c *loadConn) readResponse() error {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(line, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status line %q, want HTTP/1.1 200", line)
	}
	n := -1
	for {
		line, err = c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 { // "\r\n": end of the headers
			break
		}
		const cl = "content-length:"
		if len(line) > len(cl) && strings.EqualFold(string(line[:len(cl)]), cl) {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(line[len(cl):]))); err != nil {
				return fmt.Errorf("header %q: %v", line, err)
			}
		}
	}
	if n != len(heartbeatBody) {
		return fmt.Errorf("Content-Length %d, want %d", n, len(heartbeatBody))
	}
	body, err := c.r.Peek(n)
	if err != nil {
		return err
	}
	if !bytes.Equal(body, heartbeatBody) {
		return fmt.Errorf("body %q, want %q", body, heartbeatBody)
	}
	_, _ = c.r.Discard(n)
	return nil
}
