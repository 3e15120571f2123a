// access.go holds presenced's keyset: the -subscribe-key, -publish-key and
// -secret-key flags (each also read from the environment, the flag winning),
// the Access Manager (package pam) built from them, and with -redis its
// revocations kept in Redis, so that a token revoked on one presenced is
// refused by every presenced of the service. With no keys, presenced accepts
// any sub key and checks nothing, and says so at start.

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
	"github.com/presencekit/presence/pubnubhttp/pam"
	"github.com/redis/go-redis/v9"
)

// accessFlags holds the keyset flags.
type accessFlags struct {
	keys pam.Keyset
}

// The environment variables read for keys whose flag is not given. A secret
// is better passed here than as a flag, which other users of the machine
// can see in the process list.
const (
	envSubscribeKey = "PRESENCED_SUBSCRIBE_KEY"
	envPublishKey   = "PRESENCED_PUBLISH_KEY"
	envSecretKey    = "PRESENCED_SECRET_KEY"
)

// addAccessFlags defines the keyset flags on fs.
func addAccessFlags(fs *flag.FlagSet) *accessFlags {
	a := &accessFlags{}
	fs.StringVar(&a.keys.SubscribeKey, "subscribe-key", "", "the one sub key requests may name, others are refused (env "+envSubscribeKey+"; empty: any sub key, nothing checked)")
	fs.StringVar(&a.keys.PublishKey, "publish-key", "", "the publish key, part of every request signature; needed with -secret-key (env "+envPublishKey+")")
	fs.StringVar(&a.keys.SecretKey, "secret-key", "", "the secret key: turns Access Manager on (grant/revoke endpoints, a token checked on every request) (env "+envSecretKey+", preferred: flags show in the process list)")
	return a
}

// fromEnv fills each key whose flag fs did not set from the environment.
func (a *accessFlags) fromEnv(fs *flag.FlagSet) {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, k := range []struct {
		flag, env string
		dst       *string
	}{
		{"subscribe-key", envSubscribeKey, &a.keys.SubscribeKey},
		{"publish-key", envPublishKey, &a.keys.PublishKey},
		{"secret-key", envSecretKey, &a.keys.SecretKey},
	} {
		if !set[k.flag] {
			*k.dst = os.Getenv(k.env)
		}
	}
}

// check refuses keysets that would silently check less than asked.
func (a *accessFlags) check() error {
	k := a.keys
	switch {
	case k.SubscribeKey == "" && (k.PublishKey != "" || k.SecretKey != ""):
		return fmt.Errorf("invalid keyset: -publish-key and -secret-key need -subscribe-key")
	case k.SecretKey != "" && k.PublishKey == "":
		return fmt.Errorf("invalid keyset: -secret-key needs -publish-key (request signatures cover it)")
	}
	return nil
}

// manager returns the Access Manager of the keyset timed by clk, with
// revocations in rev (nil: this process's memory), or nil when no sub key
// is set. It writes the mode presenced runs in to w.
func (a *accessFlags) manager(clk clock.Clock, rev pam.Revocations, w io.Writer) (*pam.Manager, error) {
	k := a.keys
	switch {
	case k.SubscribeKey == "":
		fmt.Fprintln(w, "presenced: no -subscribe-key: any sub key is accepted and no access is checked")
		return nil, nil
	case k.SecretKey == "":
		fmt.Fprintf(w, "presenced: sub key %q only; no -secret-key: Access Manager is off, tokens are not checked\n", k.SubscribeKey)
	default:
		fmt.Fprintf(w, "presenced: Access Manager on for sub key %q: every request needs a token or a secret-key signature\n", k.SubscribeKey)
	}
	return pam.New(k, pam.Options{Clock: clk, Revocations: rev})
}

// access is the Access Manager presenced runs with, if any.
type access struct {
	m     *pam.Manager // nil: no keyset
	close func()
}

// openAccess builds the Access Manager of the keyset flags, timed by clk,
// with its revocations in the Redis of the backend flags when -redis is set.
// It writes the mode presenced runs in to w.
func openAccess(af *accessFlags, bf backendFlags, clk clock.Clock, w io.Writer) (*access, error) {
	a := &access{close: func() {}}
	var rev pam.Revocations
	if af.keys.SecretKey != "" && bf.redisURL != "" {
		newClient, err := redisClient(bf.redisURL)
		if err != nil {
			return nil, err
		}
		client := newClient()
		rev = redisRevocations{client: client, prefix: bf.prefix + ":pam:revoked:"}
		a.close = func() { _ = client.Close() }
	}
	m, err := af.manager(clk, rev, w)
	if err != nil {
		a.close()
		return nil, err
	}
	a.m = m
	return a, nil
}

// apply sets the Authorizer of opt and returns the handler to serve: h
// behind the grant and revoke endpoints, or h itself without a keyset.
func (a *access) apply(opt *pubnubhttp.Options) func(h http.Handler) http.Handler {
	if a.m == nil {
		return func(h http.Handler) http.Handler { return h }
	}
	opt.Authorizer = a.m
	return a.m.Wrap
}

// redisRevocations keeps revoked token ids in Redis, one key each, expiring
// with the token, so that every presenced sharing the Redis sees a revoke.
type redisRevocations struct {
	client redis.UniversalClient
	prefix string
}

// Revoke sets the id's key until the token's expiry.
func (r redisRevocations) Revoke(ctx context.Context, id string, until time.Time) error {
	if err := r.client.SetArgs(ctx, r.prefix+id, "1", redis.SetArgs{ExpireAt: until}).Err(); err != nil {
		return fmt.Errorf("%w: redis: %v", presence.ErrUnavailable, err)
	}
	return nil
}

// Revoked reports whether the id's key exists.
func (r redisRevocations) Revoked(ctx context.Context, id string) (bool, error) {
	n, err := r.client.Exists(ctx, r.prefix+id).Result()
	if err != nil {
		return false, fmt.Errorf("%w: redis: %v", presence.ErrUnavailable, err)
	}
	return n > 0, nil
}
