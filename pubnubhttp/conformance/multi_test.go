package conformance

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	pubnub "github.com/pubnub/go/v7"
)

// The multi-instance mode: three presenced processes on one redis-server
// are one presence service, and the real Go SDK, its clients spread across
// them, sees one presence view. It needs redis-server (skipped with a
// message when it is not installed, unless CI=true) and builds presenced
// from ../../cmd/presenced unless $PRESENCED names a binary.

// needRedis returns the path of redis-server, or skips the test when it is
// not installed, unless CI=true, where the multi-instance tests must run.
func needRedis(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not on PATH, and CI=true: the multi-instance tests must run in CI (apt-get install redis-server)")
		}
		t.Skip("multi-instance tests skipped: redis-server not on PATH (apt-get install redis-server to run them)")
	}
	return path
}

var built struct {
	once sync.Once
	path string
	err  error
}

// presencedBinary returns $PRESENCED, or builds cmd/presenced once per test
// binary.
func presencedBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PRESENCED"); p != "" {
		return p
	}
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "presenced-conformance")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "presenced")
		cmd := exec.Command("go", "build", "-o", built.path, ".")
		cmd.Dir = filepath.Join("..", "..", "cmd", "presenced")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build presenced: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a child process the test started; it dies with the test.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startProcess runs path with args and waits for a line of its output that
// contains ready; it returns that line.
func startProcess(t *testing.T, ready string, path string, args ...string) (*process, string) {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.SysProcAttr = childAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	lines := make(chan string, 1)
	var log strings.Builder
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		found := false
		for sc.Scan() {
			if !found {
				log.WriteString(sc.Text() + "\n")
				if strings.Contains(sc.Text(), ready) {
					found = true
					lines <- sc.Text()
				}
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(p.kill)
	select {
	case line := <-lines:
		return p, line
	case <-p.done:
		t.Fatalf("%s exited before %q:\n%s", filepath.Base(path), ready, log.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no %q after 20 s", filepath.Base(path), ready)
	}
	return nil, ""
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *process) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// cluster is one redis-server and three presenced sharing it.
type cluster struct {
	instances [3]*process
	origins   [3]string // "127.0.0.1:PORT"
}

// startCluster starts redis-server on a free loopback port and three
// presenced on it, with the given extra flags.
func startCluster(t *testing.T, flags ...string) *cluster {
	t.Helper()
	redisPath := needRedis(t)
	bin := presencedBinary(t)
	port := freePort(t)
	startProcess(t, "Ready to accept connections", redisPath,
		"--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	c := &cluster{}
	for i := range c.instances {
		args := append([]string{"-addr", "127.0.0.1:0", "-redis", fmt.Sprintf("redis://127.0.0.1:%d/0", port)}, flags...)
		p, line := startProcess(t, "listening on http://", bin, args...)
		c.instances[i] = p
		c.origins[i] = line[strings.Index(line, "http://")+len("http://"):]
	}
	return c
}

// proxy is the load balancer a deployment puts in front of its servers:
// each new connection goes to the first of the targets that accepts it,
// so when a server dies its clients' next connections reach the next one.
type proxy struct {
	ln      net.Listener
	targets []string
	conns   []atomic.Int64 // connections forwarded to each target

	mu   sync.Mutex
	open map[net.Conn]struct{} // closed when the test ends
}

func startProxy(t *testing.T, targets ...string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, targets: targets, conns: make([]atomic.Int64, len(targets)), open: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.open {
			c.Close() // idle kept-alive connections of the SDKs
		}
		p.mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				p.forward(client)
			}()
		}
	}()
	return p
}

func (p *proxy) origin() string { return p.ln.Addr().String() }

func (p *proxy) forward(client net.Conn) {
	p.mu.Lock()
	p.open[client] = struct{}{}
	p.mu.Unlock()
	defer func() {
		client.Close()
		p.mu.Lock()
		delete(p.open, client)
		p.mu.Unlock()
	}()
	var server net.Conn
	for i, target := range p.targets {
		c, err := net.DialTimeout("tcp", target, time.Second)
		if err == nil {
			server = c
			p.conns[i].Add(1)
			break
		}
	}
	if server == nil {
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(server, client); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, server); done <- struct{}{} }()
	<-done // either side closed (a killed server resets its end): close both
}

// keys returns "action uuid" of every recorded event on channel, sorted.
func (r *recorder) keys(channel string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		if ev.Channel == channel {
			out = append(out, ev.Event+" "+ev.UUID)
		}
	}
	slices.Sort(out)
	return out
}

// settle waits for the SDK to hand over events it already received: it
// announces each presence event on a goroutine of its own.
func settle() { time.Sleep(300 * time.Millisecond) }

// heartbeat makes uuid present on channel through origin with the SDK's
// Heartbeat call, for timeout seconds.
func heartbeat(t *testing.T, origin, uuid, channel string, timeout int) {
	t.Helper()
	pn := newClient(t, origin, uuid)
	pn.Config.PresenceTimeout = timeout // set directly: the Go SDK's setter raises it to 20
	if _, _, err := pn.Heartbeat().Channels([]string{channel}).Execute(); err != nil {
		t.Fatalf("Heartbeat(%s on %s via %s): %v", uuid, channel, origin, err)
	}
}

// subscribeListener subscribes a presence-only listener through origin and
// waits until its first long-poll is held.
func subscribeListener(t *testing.T, origin, uuid string, channels ...string) (*pubnub.PubNub, *recorder) {
	t.Helper()
	pn := newClient(t, origin, uuid)
	rec := listen(t, pn)
	var pres []string
	for _, c := range channels {
		pres = append(pres, c+"-pnpres")
	}
	pn.Subscribe().Channels(pres).Execute()
	time.Sleep(300 * time.Millisecond) // let the handshake land
	return pn, rec
}

// TestMultiInstance: three presenced on one Redis. here_now on any of them
// sees everyone; a join through one reaches presence listeners subscribed
// through the others exactly once; a listener whose server is killed with
// SIGKILL moves to another (through a load balancer) and neither misses
// nor repeats an event; the clients of the killed server time out, and
// each timeout is announced once.
func TestMultiInstance(t *testing.T) {
	c := startCluster(t, "-min-timeout", "1s", "-sweep-interval", "100ms", "-poll-timeout", "20s", "-announce-max", "-1")
	a, b, cc := c.origins[0], c.origins[1], c.origins[2]

	t.Run("here_now on every instance", func(t *testing.T) {
		for i, uuid := range []string{"alice", "bob", "carol"} {
			newClient(t, c.origins[i], uuid).Subscribe().Channels([]string{"everyone"}).Execute()
		}
		for _, origin := range c.origins {
			pn := newClient(t, origin, "observer")
			eventually(t, "here_now through "+origin, func() string {
				res, _, err := pn.HereNow().Channels([]string{"everyone"}).IncludeUUIDs(true).Execute()
				if err != nil {
					return err.Error()
				}
				if ch, _ := channelData(res, "everyone"); !slices.Equal(occupants(ch), []string{"alice", "bob", "carol"}) {
					return fmt.Sprintf("occupants %v, want alice, bob, carol", occupants(ch))
				}
				return ""
			})
		}
	})

	// Listeners: one through each surviving server, and one through the
	// load balancer, which sends it to a (killed below) while a is up.
	_, onB := subscribeListener(t, b, "listener-b", "room")
	_, onC := subscribeListener(t, cc, "listener-c", "room")
	lb := startProxy(t, a, b)
	moving := newClient(t, lb.origin(), "mover")
	moved := listen(t, moving)
	// Go's HTTP client repeats a GET whose kept-alive connection broke
	// before any answer, so the mover's long-poll usually moves on its own.
	// When the error reaches the SDK instead, its subscribe loop stops
	// (with the default, manual, reconnection policy); like an application,
	// the mover then subscribes again, and the SDK resumes from the last
	// cursor it received.
	status := pubnub.NewListener()
	moving.AddListener(status)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case st := <-status.Status:
				switch st.Category {
				case pubnub.PNUnknownCategory, pubnub.PNBadRequestCategory:
					time.Sleep(100 * time.Millisecond)
					moving.Subscribe().Channels([]string{"room-pnpres"}).Execute()
				}
			case <-status.Presence:
			case <-stop:
				return
			}
		}
	}()
	moving.Subscribe().Channels([]string{"room-pnpres"}).Execute()
	time.Sleep(300 * time.Millisecond)

	t.Run("a join through one instance reaches listeners of the others once", func(t *testing.T) {
		heartbeat(t, a, "u1", "room", 60)
		for _, r := range []*recorder{onB, onC, moved} {
			r.wait(t, "join of u1", is("join", "u1"))
		}
	})

	// Two clients of a only, with a 2 s presence timeout.
	heartbeat(t, a, "dropped-1", "room", 2)
	heartbeat(t, a, "dropped-2", "room", 2)
	for _, r := range []*recorder{onB, onC, moved} {
		r.wait(t, "join of dropped-2", is("join", "dropped-2"))
	}

	if n := lb.conns[1].Load(); lb.conns[0].Load() == 0 || n != 0 {
		t.Fatalf("before the kill the load balancer sent %d connections to a and %d to b, want the mover on a only", lb.conns[0].Load(), n)
	}
	c.instances[0].kill() // a: SIGKILL; the mover's held long-poll ends with it

	// Events while the mover is moving, and after.
	heartbeat(t, cc, "u2", "room", 60)
	heartbeat(t, b, "u3", "room", 60)
	if _, err := newClient(t, cc, "u1").Leave().Channels([]string{"room"}).Execute(); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	for _, r := range []*recorder{onB, onC, moved} {
		r.wait(t, "timeout of dropped-1", is("timeout", "dropped-1"))
		r.wait(t, "timeout of dropped-2", is("timeout", "dropped-2"))
	}
	heartbeat(t, b, "u4", "room", 60)
	heartbeat(t, cc, "fence", "room", 60)
	for _, r := range []*recorder{onB, onC, moved} {
		r.wait(t, "join of fence", is("join", "fence"))
	}
	settle()

	want := []string{
		"join dropped-1", "join dropped-2", "join fence", "join u1", "join u2", "join u3", "join u4",
		"leave u1", "timeout dropped-1", "timeout dropped-2",
	}
	for name, r := range map[string]*recorder{"listener through b": onB, "listener through c": onC, "listener moved from a to b": moved} {
		if got := r.keys("room"); !slices.Equal(got, want) {
			t.Errorf("%s received %v, want each of %v once", name, got, want)
		}
	}
	if lb.conns[1].Load() == 0 {
		t.Errorf("the load balancer sent nothing to b after a died: the mover did not move")
	}
	for _, origin := range []string{b, cc} {
		res, _, err := newClient(t, origin, "observer").HereNow().Channels([]string{"room"}).IncludeUUIDs(true).Execute()
		if err != nil {
			t.Fatalf("HereNow through %s: %v", origin, err)
		}
		if ch, _ := channelData(res, "room"); !slices.Equal(occupants(ch), []string{"fence", "u2", "u3", "u4"}) {
			t.Errorf("here_now through %s: %v, want fence, u2, u3, u4", origin, occupants(ch))
		}
	}
}
