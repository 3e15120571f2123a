package compare

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
)

// The held long-poll rows (issue 13): heldPolls subscribe long-polls held
// by one presenced-equivalent server (pubnubhttp's Handler over an
// in-memory engine, in an http.Server configured as cmd/presenced's, on
// loopback, in the benchmark process), heldWatchers of them on the
// presence of channel "hot" and each of the others on a channel of its
// own; then a join on "hot".
//
// impl=held-parked serves through pubnubhttp.Listen, as cmd/presenced
// does: the polls are parked. impl=held-goroutine serves on the plain
// listener: each poll keeps net/http's connection goroutine, its
// background reader and its buffers, and the handler's goroutine waiting.
//
// The clients run in a child process (this test binary again, running
// TestHeldPollsClient), so that their memory and goroutines are not
// counted: one keep-alive TCP connection per poll, each writing its GET
// once. The server's memory is the Go runtime's mapped memory not
// released to the OS (runtime/metrics /memory/classes/total:bytes minus
// /memory/classes/heap/released:bytes, after a GC), read before the
// clients connect and once every poll is held; the difference over the
// polls is KiB/poll, and the goroutines' difference over the polls
// goroutines/poll. rss-KiB/poll is the same difference of the process's
// resident set (Linux), which also holds what the runtime does not count
// and pages the collector freed but the OS did not take back yet. The child stamps each watcher's answer when it has read
// it whole; wake-p50-ms and wake-p99-ms are those times minus the time
// just before the join (one machine, one wall clock). spurious is the
// handler's wake-ups (Handler.Wakeups) during the join, less the 100 the
// join should cause, 300 ms after the last answer; it also checks that no
// other poll was answered.
//
// The process's open-file limit must fit heldPolls connections: the
// benchmark raises the soft RLIMIT_NOFILE to the hard one if it is lower
// (Go does so at start on most systems already) and fails when that is
// not enough. Run it with -benchtime 1x: each run is one whole trial, and
// each side in a process of its own (run.sh does): memory other benchmarks
// of the process freed is reused without growing the runtime's count, so
// after them the per-poll figures read low.

// heldWatchers is the number of polls watching channel "hot".
const heldWatchers = 100

// heldPolls is the number of polls: 10,000, or 500 with
// PRESENCE_BENCH_SCALE=small.
func heldPolls() int {
	if os.Getenv("PRESENCE_BENCH_SCALE") == "small" {
		return 500
	}
	return 10_000
}

// BenchmarkHeldPolls holds heldPolls long-polls and measures their memory
// and a join's wake-up of the heldWatchers among them.
func BenchmarkHeldPolls(b *testing.B) {
	for _, impl := range []string{"held-parked", "held-goroutine"} {
		b.Run("impl="+impl, func(b *testing.B) { benchHeld(b, impl == "held-parked") })
	}
}

// processRSS returns the process's resident set (VmRSS of
// /proc/self/status) in bytes, or 0 where there is none.
func processRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// serverMemory returns the Go runtime's mapped memory not released to the
// OS, after a GC.
func serverMemory() uint64 {
	runtime.GC()
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() - s[1].Value.Uint64()
}

// raiseFileLimit raises the soft open-file limit to the hard one and
// fails when the hard one is below need.
func raiseFileLimit(b *testing.B, need uint64) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			b.Fatal(err)
		}
	}
	if l.Cur < need {
		b.Fatalf("RLIMIT_NOFILE is %d, the benchmark needs %d open files", l.Cur, need)
	}
}

func benchHeld(b *testing.B, park bool) {
	n := heldPolls()
	raiseFileLimit(b, uint64(n)+200)
	for b.Loop() {
		heldTrial(b, park, n)
	}
}

// heldTrial is one trial on a server of its own.
func heldTrial(b *testing.B, park bool, n int) {
	eng, err := presence.New(presence.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	h, err := pubnubhttp.New(eng, pubnubhttp.Options{MaxPolls: n + 100})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close() // answers the parked polls left, as cmd/presenced does at shutdown
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	if park {
		ln = pubnubhttp.Listen(ln)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 1 << 20}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	// The cursor the polls wait after: a handshake's.
	tr := &http.Transport{DisableKeepAlives: true}
	resp, err := (&http.Client{Transport: tr}).Get("http://" + addr + "/v2/subscribe/" + serverSubKey + "/setup-pnpres/0?uuid=setup")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	i := bytes.Index(body, []byte(`"t":"`))
	if i < 0 || len(body) < i+5+17 {
		b.Fatalf("handshake: %s", body)
	}
	cursor := string(body[i+5 : i+5+17])

	mem0, g0 := serverMemory(), runtime.NumGoroutine()
	rss0 := processRSS()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestHeldPollsClient$", "-test.v")
	cmd.Env = append(os.Environ(), "HELD_POLLS_ADDR="+addr, "HELD_POLLS_N="+strconv.Itoa(n), "HELD_POLLS_CURSOR="+cursor)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = stdin.Close() // the child closes its connections and exits
		if err := cmd.Wait(); err != nil {
			b.Errorf("client: %v", err)
		}
	}()
	out := bufio.NewScanner(stdout)
	wantLine := func(prefix string) string {
		for out.Scan() {
			if s, ok := strings.CutPrefix(out.Text(), prefix); ok {
				return s
			}
		}
		b.Fatalf("client: no %q line (%v)", prefix, out.Err())
		return ""
	}
	wantLine("sent")
	deadline := time.Now().Add(2 * time.Minute)
	for h.HeldPolls() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d polls held after 2 minutes, want %d", h.HeldPolls(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the last handler goroutines return
	mem1, g1 := serverMemory(), runtime.NumGoroutine()
	rss1 := processRSS()

	wake0 := h.Wakeups()
	t0 := time.Now()
	if err := eng.Heartbeat(b.Context(), presence.HeartbeatRequest{UUID: "joiner", Channels: []string{"hot"}}); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, heldWatchers)
	for range heldWatchers {
		ns, err := strconv.ParseInt(wantLine("answered "), 10, 64)
		if err != nil || ns < 0 {
			b.Fatalf("client: a watcher was not answered with the join (%v)", err)
		}
		lat = append(lat, time.Unix(0, ns).Sub(t0))
	}
	time.Sleep(300 * time.Millisecond)
	spurious := int64(h.Wakeups()-wake0) - heldWatchers
	if held := h.HeldPolls(); held != n-heldWatchers {
		b.Errorf("%d polls held after the join, want %d: others were answered", held, n-heldWatchers)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(int64(mem1)-int64(mem0))/1024/float64(n), "KiB/poll")
	if rss0 > 0 {
		b.ReportMetric(float64(int64(rss1)-int64(rss0))/1024/float64(n), "rss-KiB/poll")
	}
	b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/poll")
	b.ReportMetric(quantile(lat, 0.50)/1000, "wake-p50-ms")
	b.ReportMetric(quantile(lat, 0.99)/1000, "wake-p99-ms")
	b.ReportMetric(float64(spurious), "spurious")
}

// TestHeldPollsClient is BenchmarkHeldPolls's client process; it skips
// unless started by it. It opens HELD_POLLS_N connections to
// HELD_POLLS_ADDR, writes one long-poll on each (the first heldWatchers on
// "hot-pnpres", each other on a channel of its own), prints "sent", then
// "answered <unix ns>" for each watcher's answer read whole (it must hold
// the join), and closes everything when its stdin closes.
func TestHeldPollsClient(t *testing.T) {
	addr := os.Getenv("HELD_POLLS_ADDR")
	if addr == "" {
		t.Skip("BenchmarkHeldPolls's client process")
	}
	n, _ := strconv.Atoi(os.Getenv("HELD_POLLS_N"))
	cursor := os.Getenv("HELD_POLLS_CURSOR")
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		for try := 0; err != nil && try < 50; try++ { // a full accept queue
			time.Sleep(20 * time.Millisecond)
			c, err = net.Dial("tcp", addr)
		}
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		ch := "c" + strconv.Itoa(i)
		if i < heldWatchers {
			ch = "hot"
		}
		req := "GET /v2/subscribe/" + serverSubKey + "/" + ch + "-pnpres/0?uuid=u" + strconv.Itoa(i) + "&tt=" + cursor + " HTTP/1.1\r\nHost: presence\r\n\r\n"
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("sent")
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns[:min(heldWatchers, n)] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			at := int64(-1) // not answered with the join
			defer func() {
				mu.Lock()
				fmt.Printf("answered %d\n", at)
				mu.Unlock()
			}()
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Error(err)
				return
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || !bytes.Contains(body, []byte(`"joiner"`)) {
				t.Errorf("watcher's answer %s (%v), want the join of joiner", body, err)
				return
			}
			at = time.Now().UnixNano()
		}()
	}
	wg.Wait()
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		_ = c.Close()
	}
}
