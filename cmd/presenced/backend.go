// backend.go opens the presence backend presenced serves: the in-memory
// engine by default, or with -redis the Redis backend, which several
// presenced processes share as one presence service.

package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/presencekit/presence"
	presenceredis "github.com/presencekit/presence/redis"
	"github.com/redis/go-redis/v9"
)

// backendFlags are the flags that choose and tune the backend.
type backendFlags struct {
	redisURL   string
	prefix     string
	partitions int
}

func (f *backendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.redisURL, "redis", "", "`URL` of the Redis backend shared by every presenced of one service (empty: the in-memory engine); redis://, rediss:// (TLS), unix://, redis+sentinel://, rediss+sentinel://, redis+cluster://, rediss+cluster://")
	fs.StringVar(&f.prefix, "redis-prefix", presenceredis.DefaultPrefix, "prefix of every Redis key (the same on every presenced of one service)")
	fs.IntVar(&f.partitions, "redis-partitions", 0, "event streams the channels are spread over (0: 1, or 16 on Redis Cluster; the same on every presenced of one service)")
}

// check refuses backend flags that cannot work, naming the flag and the
// rule. It connects to nothing.
func (f *backendFlags) check() error {
	if f.redisURL == "" {
		return nil
	}
	if _, err := redisClient(f.redisURL); err != nil {
		return err
	}
	if f.partitions < 0 {
		return fmt.Errorf("invalid -redis-partitions %d: must not be negative", f.partitions)
	}
	if f.prefix == "" || strings.ContainsAny(f.prefix, "{}") {
		return fmt.Errorf("invalid -redis-prefix %q: must be non-empty, without '{' or '}'", f.prefix)
	}
	return nil
}

// openBackend returns the backend the flags name, with cfg as its presence
// settings, and the function that closes it (and its Redis client). Errors
// of the Redis backend's own goroutines (the sweeper, the stream readers)
// are logged as warnings, at most one every 10 s; observe, when set, is
// the Redis backend's Config.ObserveCall (the call-latency metric).
func openBackend(cfg presence.Config, f backendFlags, log *slog.Logger, observe func(op string, took time.Duration, err error)) (presence.Backend, func(), error) {
	if f.redisURL == "" {
		eng, err := presence.New(cfg)
		if err != nil {
			return nil, nil, err
		}
		return eng, func() { _ = eng.Close() }, nil
	}
	newClient, err := redisClient(f.redisURL)
	if err != nil {
		return nil, nil, err
	}
	client := newClient()
	b, err := presenceredis.New(client, presenceredis.Config{
		Config:      cfg,
		Prefix:      f.prefix,
		Partitions:  f.partitions,
		OnError:     rateLimited(log, 10*time.Second),
		ObserveCall: observe,
	})
	if err != nil {
		_ = client.Close()
		return nil, nil, fmt.Errorf("redis %s: %w", redact(f.redisURL), err)
	}
	return b, func() {
		_ = b.Close()
		_ = client.Close()
	}, nil
}

// redisClient parses a -redis URL and returns the function that makes its
// go-redis client (parsing connects to nothing). The scheme says the kind
// of deployment; "rediss" is the same with TLS:
//
//	redis://[user:password@]host:port[/db][?option=value...]       one server
//	unix://[user:password@]/path/to/redis.sock[?db=N]               one server, Unix socket
//	redis+sentinel://[user:password@]host:port[/db]?master_name=NAME[&addr=host:port...]
//	                                                                 Sentinel: the hosts are sentinels
//	redis+cluster://[user:password@]host:port[?addr=host:port...]   Cluster: the hosts are seed nodes
//
// The query takes go-redis's options by their snake_case names
// (dial_timeout=3s, max_retries=2, pool_size=20, skip_verify=true, ...);
// an unknown one is an error. For Sentinel, user and password are the
// sentinels'; the master's are the username= and password= options.
func redisClient(raw string) (func() redis.UniversalClient, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid -redis %q: not a URL", redact(raw))
	}
	bad := func(err error) error {
		return fmt.Errorf("invalid -redis %s: %v", redact(raw), err)
	}
	base, kind, _ := strings.Cut(u.Scheme, "+")
	if base != "redis" && base != "rediss" && (base != "unix" || kind != "") {
		return nil, bad(errors.New("scheme must be redis, rediss, unix, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster"))
	}
	plain := base + raw[len(u.Scheme):] // go-redis's parsers take redis:// and rediss:// only
	switch kind {
	case "":
		o, err := redis.ParseURL(plain)
		if err != nil {
			return nil, bad(err)
		}
		return func() redis.UniversalClient { return redis.NewClient(o) }, nil
	case "sentinel":
		o, err := redis.ParseFailoverURL(plain)
		if err != nil {
			return nil, bad(err)
		}
		if o.MasterName == "" {
			return nil, bad(errors.New("a sentinel URL needs master_name=NAME"))
		}
		return func() redis.UniversalClient { return redis.NewFailoverClient(o) }, nil
	case "cluster":
		o, err := redis.ParseClusterURL(plain)
		if err != nil {
			return nil, bad(err)
		}
		return func() redis.UniversalClient { return redis.NewClusterClient(o) }, nil
	}
	return nil, bad(fmt.Errorf("unknown deployment %q after '+' in the scheme: sentinel or cluster", kind))
}

// redact returns raw with its password replaced by "xxxxx", for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	return u.Redacted()
}

// rateLimited returns a function that logs an error, at most one every
// period (the others are counted and reported with the next).
func rateLimited(log *slog.Logger, period time.Duration) func(error) {
	var (
		mu      sync.Mutex
		last    time.Time
		dropped int
	)
	return func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if now := time.Now(); now.Sub(last) >= period {
			log.Warn("redis backend error", "err", err, "more_errors", dropped)
			last, dropped = now, 0
			return
		}
		dropped++
	}
}
