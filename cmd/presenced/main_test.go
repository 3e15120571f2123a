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

// TestServeAndShutdown runs the server, holds a subscribe long-poll, and
// cancels the context as SIGTERM does: the poll is answered and run
// returns 0.
func TestServeAndShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-min-timeout", "1s", "-timeout", "5s", "-sweep-interval", "100ms", "-handshake-replay", "0s"}, pw, io.Discard)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatal("no output from presenced")
	}
	addr, ok := strings.CutPrefix(lines.Text(), "presenced: listening on ")
	if !ok {
		t.Fatalf("first line %q, want the listening address", lines.Text())
	}
	go func() {
		for lines.Scan() {
		}
	}()

	resp, err := http.Get(addr + "/v2/subscribe/demo/room,room-pnpres/0?uuid=u")
	if err != nil {
		t.Fatal(err)
	}
	var hs struct {
		T struct{ T string } `json:"t"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&hs); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	resp.Body.Close()

	polled := make(chan error, 1)
	go func() {
		// The poll also joins channel "held", which shows when the server
		// is handling it.
		resp, err := http.Get(addr + "/v2/subscribe/demo/held,other-pnpres/0?uuid=u&tt=" + hs.T.T)
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
		resp, err := http.Get(addr + "/v2/presence/sub-key/demo/channel/held")
		if err != nil {
			t.Fatal(err)
		}
		var hn struct{ Occupancy int }
		err = json.NewDecoder(resp.Body).Decode(&hn)
		resp.Body.Close()
		if err != nil {
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
	cancel()
	if err := <-polled; err != nil {
		t.Errorf("held long-poll on shutdown: %v, want a clean answer", err)
	}
	if code := <-done; code != exitOK {
		t.Errorf("exit code after shutdown %d, want 0", code)
	}
}
