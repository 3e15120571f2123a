package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisURLForms(t *testing.T) {
	tests := []struct {
		url   string
		check func(redis.UniversalClient) string // "" when the client is right
	}{
		{"redis://127.0.0.1:6379/2", func(c redis.UniversalClient) string {
			o := c.(*redis.Client).Options()
			if o.Addr != "127.0.0.1:6379" || o.DB != 2 || o.TLSConfig != nil {
				return fmt.Sprintf("addr %s db %d tls %v, want 127.0.0.1:6379 db 2 without TLS", o.Addr, o.DB, o.TLSConfig != nil)
			}
			return ""
		}},
		{"rediss://user:secret@cache.example:6380?dial_timeout=3s&max_retries=2", func(c redis.UniversalClient) string {
			o := c.(*redis.Client).Options()
			if o.Addr != "cache.example:6380" || o.TLSConfig == nil || o.Username != "user" || o.Password != "secret" || o.DialTimeout != 3*time.Second || o.MaxRetries != 2 {
				return fmt.Sprintf("%+v: want TLS to cache.example:6380 as user with the query's options", o)
			}
			return ""
		}},
		{"unix:///run/redis.sock?db=1", func(c redis.UniversalClient) string {
			if o := c.(*redis.Client).Options(); o.Network != "unix" || o.Addr != "/run/redis.sock" || o.DB != 1 {
				return fmt.Sprintf("network %s addr %s db %d, want unix /run/redis.sock db 1", o.Network, o.Addr, o.DB)
			}
			return ""
		}},
		{"redis+sentinel://s1:26379/0?master_name=presence&addr=s2:26379", func(c redis.UniversalClient) string {
			if _, ok := c.(*redis.Client); !ok {
				return fmt.Sprintf("client %T, want a failover *redis.Client", c)
			}
			return ""
		}},
		{"rediss+cluster://n1:7000?addr=n2:7000&addr=n3:7000", func(c redis.UniversalClient) string {
			cc, ok := c.(*redis.ClusterClient)
			if !ok {
				return fmt.Sprintf("client %T, want *redis.ClusterClient", c)
			}
			if o := cc.Options(); len(o.Addrs) != 3 || o.TLSConfig == nil {
				return fmt.Sprintf("addrs %v tls %v, want 3 seed nodes with TLS", o.Addrs, o.TLSConfig != nil)
			}
			return ""
		}},
	}
	for _, tt := range tests {
		newClient, err := redisClient(tt.url)
		if err != nil {
			t.Errorf("redisClient(%q): %v", tt.url, err)
			continue
		}
		c := newClient()
		if msg := tt.check(c); msg != "" {
			t.Errorf("redisClient(%q): %s", tt.url, msg)
		}
		_ = c.Close()
	}
}

// needRedis returns the path of redis-server, or skips the test when it is
// not installed, unless CI=true, where the Redis tests must run.
func needRedis(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not on PATH, and CI=true: the Redis tests must run in CI")
		}
		t.Skip("redis-server not on PATH: install it (apt-get install redis-server) to run the Redis tests")
	}
	return path
}

// startRedis runs a redis-server without persistence on a free loopback
// port until the test ends, and returns its address.
func startRedis(t *testing.T) string {
	t.Helper()
	path := needRedis(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(path, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- true
			}
		}
		ready <- false
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("redis-server exited before it was ready")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("redis-server not ready after 20 s")
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// TestTwoServersOnRedis: two presenced on one Redis are one presence
// service: a join made through one is seen by here_now on the other and
// reaches a subscriber of the other.
func TestTwoServersOnRedis(t *testing.T) {
	addr := startRedis(t)
	url := "redis://" + addr + "/0"
	a := startPresenced(t, "-redis", url, "-handshake-replay", "0s")
	b := startPresenced(t, "-redis", url, "-handshake-replay", "0s")

	_, body := b.get(t, "/v2/subscribe/demo/room-pnpres/0?uuid=listener")
	var hs struct {
		T struct{ T string } `json:"t"`
	}
	if err := json.Unmarshal(body, &hs); err != nil {
		t.Fatalf("handshake %s: %v", body, err)
	}
	if code, body := a.get(t, "/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=alice"); code != 200 {
		t.Fatalf("heartbeat through a: status %d body %s", code, body)
	}
	if _, body := b.get(t, "/v2/presence/sub-key/demo/channel/room"); !strings.Contains(string(body), `"uuids":["alice"]`) {
		t.Errorf("here_now through b: %s, want alice", body)
	}
	_, body = b.get(t, "/v2/subscribe/demo/room-pnpres/0?uuid=listener&tt="+hs.T.T)
	var env struct {
		M []struct {
			C string
			D struct{ Action, UUID string }
		}
	}
	if err := json.Unmarshal(body, &env); err != nil || len(env.M) != 1 || env.M[0].D.Action != "join" || env.M[0].D.UUID != "alice" {
		t.Errorf("poll through b: %s, want the join of alice made through a", body)
	}
}

// TestRedisUnreachable: a -redis server that does not answer is a server
// failure (exit 1) naming Redis, with the password left out.
func TestRedisUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var stdout, stderr syncBuffer
	code := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-redis", "redis://u:hunter2@" + addr + "?max_retries=-1"}, &stdout, &stderr)
	if code != exitError || !strings.Contains(stderr.String(), "redis") || strings.Contains(stderr.String(), "hunter2") {
		t.Errorf("exit code %d, stderr %q; want %d and an error naming redis without the password", code, stderr.String(), exitError)
	}
}
