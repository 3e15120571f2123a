package presenceredis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/redis/go-redis/v9"
)

// waitUntil polls an external process's state (a cluster forming or
// failing over), at most 60 s.
func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.NewTimer(60 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !ok() {
		select {
		case <-deadline.C:
			t.Fatalf("%s: not after 60s", what)
		case <-tick.C:
		}
	}
}

// startCluster starts six redis-server processes on loopback ports and
// joins them into a cluster of three masters with one replica each.
func startCluster(t *testing.T) []*redisServer {
	t.Helper()
	needRedis(t)
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not on PATH")
	}
	var nodes []*redisServer
	var addrs []string
	for range 6 {
		s := startRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1500")
		nodes = append(nodes, s)
		addrs = append(addrs, s.addr())
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "1", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, s := range nodes {
		c := redis.NewClient(&redis.Options{Addr: s.addr()})
		waitUntil(t, "cluster state ok at "+s.addr(), func() bool {
			info, err := c.ClusterInfo(context.Background()).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
		waitUntil(t, "replication link up at "+s.addr(), func() bool {
			info, err := c.Info(context.Background(), "replication").Result()
			return err == nil && (strings.Contains(info, "role:master") || strings.Contains(info, "master_link_status:up"))
		})
		c.Close()
	}
	return nodes
}

func clusterClient(t *testing.T, nodes []*redisServer) *redis.ClusterClient {
	var addrs []string
	for _, s := range nodes {
		addrs = append(addrs, s.addr())
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, DialTimeout: time.Second, MaxRedirects: 16})
	t.Cleanup(func() { c.Close() })
	return c
}

// retry repeats f while Redis is unavailable (a failover in progress).
func retry(t *testing.T, f func() error) {
	t.Helper()
	for i := 0; ; i++ {
		err := f()
		if err == nil {
			return
		}
		if !errors.Is(err, presence.ErrUnavailable) || i == 400 {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Millisecond) // waiting for the cluster to elect a master, not for an event
	}
}

// TestCluster runs three instances on a six-node Redis Cluster (16
// partitions over three masters), fails a master over by hand and then by
// killing it, and checks that no event is delivered twice and that every
// instance delivers the same events in the same order per channel. Opt in
// with PRESENCE_REDIS_CLUSTER=1.
func TestCluster(t *testing.T) {
	if os.Getenv("PRESENCE_REDIS_CLUSTER") == "" {
		t.Skip("set PRESENCE_REDIS_CLUSTER=1 to run the Redis Cluster test (six redis-server processes)")
	}
	nodes := startCluster(t)
	clk := mockClock()
	// no outage grace: the test jumps the clock a minute at once right after
	// a failover (the grace has its own test, TestOutageGrace)
	cfg := Config{Config: baseConfig(clk), Prefix: uniquePrefix(t), OutageGrace: -1}
	var bs []*Backend
	var subs []*presence.Subscription
	for range 3 {
		b := newBackend(t, clusterClient(t, nodes), cfg)
		if b.cfg.Partitions != DefaultClusterPartitions {
			t.Fatalf("Partitions = %d with a cluster client, want %d", b.cfg.Partitions, DefaultClusterPartitions)
		}
		bs = append(bs, b)
		subs = append(subs, subAll(t, b, 100_000))
	}
	var delivered [3][]presence.Event
	drainAll := func() {
		t.Helper()
		for i, b := range bs {
			retry(t, func() error { return b.Flush(ctx) })
			delivered[i] = append(delivered[i], buffered(subs[i])...)
		}
	}
	members := func(lo, hi int, via int) {
		t.Helper()
		var reqs []presence.HeartbeatRequest
		for i := lo; i < hi; i++ {
			reqs = append(reqs, presence.HeartbeatRequest{UUID: fmt.Sprintf("u%04d", i), Channels: []string{fmt.Sprintf("c%02d", i%40)}, Timeout: time.Minute})
		}
		retry(t, func() error { return bs[via].Heartbeats(ctx, reqs...) })
	}

	members(0, 600, 0)
	members(0, 600, 1) // refreshes: silent
	drainAll()

	if err := bs[0].Ping(ctx); err != nil {
		t.Fatalf("Ping (every master): %v", err)
	}

	// a group over every channel, so over all 16 partitions and three
	// masters: each partition's part of an edit is one script in its slot
	var chans []string
	for i := range 40 {
		chans = append(chans, fmt.Sprintf("c%02d", i))
	}
	retry(t, func() error { return bs[0].AddChannels(ctx, "everything", chans) })
	for i, b := range bs {
		var got []string
		retry(t, func() error {
			var err error
			got, err = b.GroupChannels(ctx, "everything")
			return err
		})
		if !slices.Equal(got, chans) {
			t.Fatalf("instance %d: GroupChannels = %v, want %v", i, got, chans)
		}
	}
	retry(t, func() error { return bs[1].DeleteGroup(ctx, "everything") })
	if got, err := bs[2].Groups(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Groups after DeleteGroup = %v, %v; want none", got, err)
	}

	// a manual failover: a replica takes over its master's slots
	ctx := context.Background()
	var replica *redisServer
	for _, s := range nodes {
		c := redis.NewClient(&redis.Options{Addr: s.addr()})
		role, err := c.Do(ctx, "ROLE").Slice()
		if err == nil && role[0] == "slave" && replica == nil {
			replica = s
			asked := 0
			waitUntil(t, "replica promoted", func() bool {
				r, err := c.Do(ctx, "ROLE").Slice()
				if err == nil && r[0] == "master" {
					return true
				}
				if asked%100 == 0 { // again every 5 s: a manual failover can time out
					if err := c.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
						t.Logf("CLUSTER FAILOVER: %v", err)
					}
				}
				asked++
				return false
			})
		}
		c.Close()
	}
	members(600, 900, 2)
	for i := range 100 {
		u := fmt.Sprintf("u%04d", i)
		retry(t, func() error {
			return bs[i%3].Leave(ctx, presence.LeaveRequest{UUID: u, Channels: []string{fmt.Sprintf("c%02d", i%40)}})
		})
	}
	drainAll()

	// a crash: kill a master; its replica is promoted after the node timeout
	var victim *redisServer
	for _, s := range nodes {
		c := redis.NewClient(&redis.Options{Addr: s.addr()})
		role, err := c.Do(ctx, "ROLE").Slice()
		c.Close()
		if err == nil && role[0] == "master" && s != replica {
			victim = s
			break
		}
	}
	victim.stop()
	members(900, 1200, 0)
	drainAll()
	clk.Add(time.Minute)
	for _, b := range bs {
		retry(t, func() error { return b.Sweep(ctx) })
	}
	drainAll()

	resyncs := checkFailover(t, bs, delivered[:], 2400)
	t.Logf("1200 members over 40 channels and 16 partitions, a manual failover and a master killed: %d, %d and %d events delivered by the instances, %d resync markers",
		len(delivered[0]), len(delivered[1]), len(delivered[2]), resyncs)
}
