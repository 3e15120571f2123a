package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"-timeout", "-5s"}, "invalid -timeout -5s: must be positive"},
		{[]string{"-timeout", "soon"}, `invalid value "soon" for flag -timeout`},
		{[]string{"-min-timeout", "500ms"}, "invalid -min-timeout 500ms: must be at least 1s"},
		{[]string{"-min-timeout", "30s", "-max-timeout", "25s"}, "invalid -max-timeout 25s: below -min-timeout 30s"},
		{[]string{"-timeout", "3s"}, "invalid -timeout 3s: outside -min-timeout 20s .. -max-timeout 5m20s"},
		{[]string{"-interval", "0s"}, "invalid -interval 0s: must be positive"},
		{[]string{"-here-now-cache", "-1s"}, "invalid -here-now-cache -1s: must not be negative"},
		{[]string{"-announce-max", "0"}, "invalid -announce-max 0"},
		{[]string{"-max-polls-per-uuid", "0"}, "invalid -max-polls-per-uuid 0: must be at least 1"},
		{[]string{"-event-log", "-1"}, "invalid -event-log -1: must be at least 1"},
		{[]string{"-poll-timeout", "0s"}, "invalid -poll-timeout 0s: must be positive"},
		{[]string{"-sweep-interval", "0s"}, "invalid -sweep-interval 0s: must be positive"},
		{[]string{"-handshake-replay", "-1s"}, "invalid -handshake-replay -1s: must not be negative"},
		{[]string{"-call-timeout", "0s"}, "invalid -call-timeout 0s: must be positive"},
		{[]string{"-max-names", "0"}, "invalid -max-names 0: must be at least 1"},
		{[]string{"-redis", "http://127.0.0.1:6379"}, "invalid -redis http://127.0.0.1:6379: scheme must be redis, rediss, unix"},
		{[]string{"-redis", "redis://u:hunter2@h:1/x"}, `invalid -redis redis://u:xxxxx@h:1/x: redis: invalid database number: "x"`},
		{[]string{"-redis", "redis+sentinel://h:26379"}, "a sentinel URL needs master_name=NAME"},
		{[]string{"-redis", "redis+mesh://h:1"}, `unknown deployment "mesh"`},
		{[]string{"-redis", "redis://h:1?bogus=1"}, "invalid -redis redis://h:1?bogus=1: redis: unexpected option: bogus"},
		{[]string{"-redis", "redis://h:1", "-redis-partitions", "-1"}, "invalid -redis-partitions -1: must not be negative"},
		{[]string{"-redis", "redis://h:1", "-redis-prefix", "a{b"}, `invalid -redis-prefix "a{b"`},
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"serve"}, `unexpected argument "serve"`},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		if code != exitUsage {
			t.Errorf("presenced %v: exit code %d, want %d", tt.args, code, exitUsage)
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("presenced %v: stderr %q, want it to contain %q", tt.args, stderr.String(), tt.want)
		}
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &stdout, &stderr); code != exitOK {
		t.Errorf("presenced -h: exit code %d, want 0", code)
	}
	if !strings.Contains(stderr.String(), "-announce-max") {
		t.Errorf("presenced -h: usage %q, want the flags", stderr.String())
	}
}

func TestAddressInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-addr", ln.Addr().String()}, &stdout, &stderr); code != exitError {
		t.Errorf("presenced on a taken address: exit code %d, want %d; stderr %q", code, exitError, stderr.String())
	}
}

// server is a presenced run by a test (run in a goroutine, as main does).
type server struct {
	url    string // "http://127.0.0.1:PORT"
	cancel context.CancelFunc
	done   chan int // its exit code
}

// startPresenced runs presenced with args (and -addr 127.0.0.1:0) until
// the test ends or stop is called.
func startPresenced(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{cancel: cancel, done: make(chan int, 1)}
	var stderr syncBuffer
	go func() {
		s.done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, &stderr)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no output from presenced %v; stderr %q", args, stderr.String())
	}
	addr, ok := strings.CutPrefix(lines.Text(), "presenced: listening on ")
	if !ok {
		t.Fatalf("first line %q, want the listening address", lines.Text())
	}
	go func() {
		for lines.Scan() {
		}
	}()
	s.url = addr
	t.Cleanup(func() { s.stop() })
	return s
}

// stop shuts the server down as SIGTERM does and returns its exit code.
func (s *server) stop() int {
	s.cancel()
	code := <-s.done
	s.done <- code
	return code
}

// get sends a GET and returns the status and the body.
func (s *server) get(t *testing.T, path string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(s.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, body
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestServeAndShutdown runs the server, holds a subscribe long-poll, and
// cancels the context as SIGTERM does: the poll is answered and run
// returns 0.
func TestServeAndShutdown(t *testing.T) {
	s := startPresenced(t, "-min-timeout", "1s", "-timeout", "5s", "-sweep-interval", "100ms", "-handshake-replay", "0s")
	_, body := s.get(t, "/v2/subscribe/demo/room,room-pnpres/0?uuid=u")
	var hs struct {
		T struct{ T string } `json:"t"`
	}
	if err := json.Unmarshal(body, &hs); err != nil {
		t.Fatalf("handshake %s: %v", body, err)
	}

	polled := make(chan error, 1)
	go func() {
		// The poll also joins channel "held", which shows when the server
		// is handling it.
		resp, err := http.Get(s.url + "/v2/subscribe/demo/held,other-pnpres/0?uuid=u&tt=" + hs.T.T)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = io.ErrUnexpectedEOF
			}
		}
		polled <- err
	}()
	for i := 0; ; i++ {
		_, body := s.get(t, "/v2/presence/sub-key/demo/channel/held")
		var hn struct{ Occupancy int }
		if err := json.Unmarshal(body, &hn); err != nil {
			t.Fatal(err)
		}
		if hn.Occupancy == 1 {
			break
		}
		if i == 10000 {
			t.Fatal("the long-poll never reached the server")
		}
		time.Sleep(time.Millisecond)
	}
	if code := s.stop(); code != exitOK {
		t.Errorf("exit code after shutdown %d, want 0", code)
	}
	if err := <-polled; err != nil {
		t.Errorf("held long-poll on shutdown: %v, want a clean answer", err)
	}
}

// TestLongURLIs414: a request target over 32 KiB, even one over net/http's
// default header limit, is answered 414 in PubNub's error envelope (it was
// net/http's plain 431 above 64 KiB).
func TestLongURLIs414(t *testing.T) {
	s := startPresenced(t)
	for _, n := range []int{40 << 10, 100 << 10, 900 << 10} {
		code, body := s.get(t, "/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=u&pad="+strings.Repeat("x", n))
		var env struct {
			Status  int
			Error   int
			Message string
		}
		if err := json.Unmarshal(body, &env); code != http.StatusRequestURITooLong || err != nil || env.Status != 414 || env.Error != 1 {
			t.Errorf("target of %d KiB: status %d body %.100q, want 414 in PubNub's error envelope", n>>10, code, body)
		}
	}
}
