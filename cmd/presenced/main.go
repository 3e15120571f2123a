// Command presenced serves presence over PubNub's presence REST API, so
// that PubNub SDKs pointed at it (origin set to its address, TLS off) work
// unchanged. It runs on the in-memory engine, or with -redis on the Redis
// backend, where several presenced processes sharing one Redis are one
// presence service.
//
//	go install github.com/presencekit/presence/cmd/presenced@latest
//	presenced -addr 127.0.0.1:8090
//	presenced -addr 127.0.0.1:8091 -redis redis://127.0.0.1:6379/0
//
// Flags set the presence Config and the server's limits; run with -h for the
// list. A bad flag is reported with the rule it breaks and exit code 2.
// SIGINT or SIGTERM shuts the server down gracefully: held long-polls are
// answered, in-flight requests finish, and the process exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// maxHeaderBytes is the http.Server's MaxHeaderBytes: the request line and
// headers it reads before refusing a request with 431.
const maxHeaderBytes = 1 << 20

// exit codes
const (
	exitOK    = 0
	exitError = 1 // the server failed (for example, the address is taken)
	exitUsage = 2 // bad flags
)

// run parses args, serves until ctx is done, and returns the exit code. It
// prints "presenced: listening on http://ADDR" once the listener is open.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("presenced", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg  presence.Config
		opt  pubnubhttp.Options
		bf   backendFlags
		of   opsFlags
		addr string
	)
	fs.StringVar(&addr, "addr", "127.0.0.1:8090", "`host:port` to listen on (port 0 picks a free one)")
	fs.DurationVar(&cfg.DefaultTimeout, "timeout", presence.DefaultTimeout, "default presence timeout, for heartbeats without heartbeat=")
	fs.DurationVar(&cfg.MinTimeout, "min-timeout", presence.DefaultMinTimeout, "smallest presence timeout a client may ask for (at least 1s)")
	fs.DurationVar(&cfg.MaxTimeout, "max-timeout", presence.DefaultMaxTimeout, "largest presence timeout a client may ask for")
	fs.IntVar(&cfg.AnnounceMax, "announce-max", presence.DefaultAnnounceMax, "occupancy above which a channel sends interval events (negative disables)")
	fs.DurationVar(&cfg.Interval, "interval", presence.DefaultInterval, "period of interval events")
	fs.BoolVar(&cfg.Deltas, "deltas", false, "add join/leave/timeout uuid lists to interval events")
	fs.DurationVar(&cfg.HereNowCacheTTL, "here-now-cache", 0, "how long here_now answers may be cached (3s is PubNub's; 0 = always fresh)")
	fs.BoolVar(&cfg.StrictNames, "strict-names", false, "refuse ':', '*', '/', '\\' and space in channel and group names, as PubNub does")
	fs.DurationVar(&cfg.SweepInterval, "sweep-interval", presence.DefaultSweepInterval, "how often expired members are removed (a timeout event is at most this late)")
	fs.DurationVar(&opt.HandshakeReplay, "handshake-replay", pubnubhttp.DefaultHandshakeReplay, "events this long before a subscribe handshake reach its first long-poll (0 = none)")
	fs.DurationVar(&opt.PollTimeout, "poll-timeout", pubnubhttp.DefaultPollTimeout, "how long an idle subscribe long-poll is held")
	fs.IntVar(&opt.MaxPollsPerUUID, "max-polls-per-uuid", pubnubhttp.DefaultMaxPollsPerUUID, "long-polls held at once per uuid (a new one ends the oldest)")
	fs.IntVar(&opt.MaxPolls, "max-polls", pubnubhttp.DefaultMaxPolls, "long-polls held at once in all")
	fs.IntVar(&opt.LogSize, "event-log", pubnubhttp.DefaultLogSize, "presence events kept for subscribers to catch up on")
	fs.DurationVar(&opt.CallTimeout, "call-timeout", pubnubhttp.DefaultCallTimeout, "how long a request waits for the backend before it answers 503")
	bf.register(fs)
	af := addAccessFlags(fs)
	of.register(fs)
	fs.IntVar(&cfg.MaxNamesPerCall, "max-names", presence.DefaultMaxNamesPerCall, "distinct channels plus groups one call may name (a request may list twice as many names, counting each channel's -pnpres twin)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: presenced [flags]\n\nServes PubNub's presence REST API from an in-memory engine, or with -redis\nfrom Redis, shared by every presenced using the same Redis.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), "\nEvery flag can also be set by an environment variable: %s and the flag's\nname in capitals with '-' as '_' (-admin-addr: %s). A flag given on\nthe command line wins.\n", envPrefix, envName("admin-addr"))
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage // the flag package has printed the error and usage
	}
	if err := applyEnv(fs, os.LookupEnv); err != nil {
		fmt.Fprintf(stderr, "presenced: %v\n", err)
		return exitUsage
	}
	if of.version {
		fmt.Fprintln(stdout, versionLine())
		return exitOK
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "presenced: unexpected argument %q: presenced takes flags only\n", fs.Arg(0))
		return exitUsage
	}
	if err := checkFlags(cfg, opt, bf); err != nil {
		fmt.Fprintf(stderr, "presenced: %v\n", err)
		return exitUsage
	}
	af.fromEnv(fs)
	if err := af.check(); err != nil {
		fmt.Fprintf(stderr, "presenced: %v\n", err)
		return exitUsage
	}
	if opt.HandshakeReplay == 0 {
		opt.HandshakeReplay = -1 // Options' zero means the default; the flag's means none
	}
	o, err := newOps(of, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "presenced: %v\n", err)
		return exitUsage
	}
	cfg.OnSweep = o.metrics.ObserveSweep
	cfg.Logger = o.log // slow-consumer closes and long sweeps
	if err := checkConfig(cfg); err != nil {
		fmt.Fprintf(stderr, "presenced: bad flags: %v\n", err)
		return exitUsage
	}
	version, revision := buildVersion()
	o.log.Info("presenced starting", append([]any{"version", version, "revision", revision}, configAttrs(fs)...)...)
	b, closeBackend, err := openBackend(cfg, bf, o.log, o.metrics.ObserveCall)
	if err != nil {
		o.log.Error("cannot open the backend", "err", err)
		return exitError
	}
	defer closeBackend()
	acc, err := openAccess(af, bf, b.Config().Clock, lineLogger{o.log})
	if err != nil {
		o.log.Error("cannot set up access control", "err", err)
		return exitError
	}
	defer acc.close()
	wrap := acc.apply(&opt)
	h, err := pubnubhttp.New(b, opt)
	if err != nil {
		o.log.Error("cannot serve the backend", "err", err)
		return exitError
	}
	defer h.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		o.log.Error("cannot listen", "addr", addr, "err", err)
		return exitError
	}
	adminAddr, err := o.start(b, h, of.adminAddr, ln.Addr())
	defer o.close()
	if err != nil {
		o.log.Error("cannot start the admin listener", "addr", of.adminAddr, "err", err)
		return exitError
	}
	srv := &http.Server{
		Handler:           instrument(wrap(h), o.requests, o.log),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Far above the handler's MaxURLBytes (32 KiB), so that the
		// handler answers a long request target 414 in PubNub's envelope
		// (net/http answers a request line over MaxHeaderBytes 431, plain).
		MaxHeaderBytes: maxHeaderBytes,
	}
	srv.RegisterOnShutdown(func() { h.Close() })
	fmt.Fprintf(stdout, "presenced: listening on http://%s\n", ln.Addr())
	adminURL := ""
	if adminAddr != nil {
		adminURL = "http://" + adminAddr.String()
		fmt.Fprintf(stdout, "presenced: admin on %s\n", adminURL)
	}
	o.log.Info("presenced serving", "addr", "http://"+ln.Addr().String(), "admin", adminURL)

	served := make(chan error, 1)
	// Through Listen, held long-polls are parked without a goroutine each
	// (see pubnubhttp.Listen); h.Close answers them at shutdown.
	go func() { served <- srv.Serve(pubnubhttp.Listen(ln)) }()
	select {
	case err := <-served:
		o.log.Error("server failed", "err", err)
		return exitError
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "presenced: shutting down")
	o.log.Info("presenced stopping")
	o.drain() // /readyz answers 503 from now on
	h.Close() // answer the held long-polls first, so Shutdown need not wait for them
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		o.log.Error("shutdown", "err", err)
		return exitError
	}
	o.log.Info("presenced stopped", "uptime", time.Since(o.started).Round(time.Second).String())
	return exitOK
}

// checkFlags refuses values the engine would silently replace with its
// defaults (a zero or negative duration or size), naming the flag and the
// rule; the engine's own checks (New) cover the rest.
func checkFlags(cfg presence.Config, opt pubnubhttp.Options, bf backendFlags) error {
	durations := []struct {
		name string
		v    time.Duration
	}{
		{"-timeout", cfg.DefaultTimeout}, {"-min-timeout", cfg.MinTimeout}, {"-max-timeout", cfg.MaxTimeout},
		{"-interval", cfg.Interval}, {"-poll-timeout", opt.PollTimeout}, {"-sweep-interval", cfg.SweepInterval},
		{"-call-timeout", opt.CallTimeout},
	}
	for _, d := range durations {
		if d.v <= 0 {
			return fmt.Errorf("invalid %s %v: must be positive", d.name, d.v)
		}
	}
	if opt.HandshakeReplay < 0 {
		return fmt.Errorf("invalid -handshake-replay %v: must not be negative", opt.HandshakeReplay)
	}
	if cfg.HereNowCacheTTL < 0 {
		return fmt.Errorf("invalid -here-now-cache %v: must not be negative", cfg.HereNowCacheTTL)
	}
	if cfg.MinTimeout < time.Second {
		return fmt.Errorf("invalid -min-timeout %v: must be at least 1s", cfg.MinTimeout)
	}
	if cfg.MaxTimeout < cfg.MinTimeout {
		return fmt.Errorf("invalid -max-timeout %v: below -min-timeout %v", cfg.MaxTimeout, cfg.MinTimeout)
	}
	if cfg.DefaultTimeout < cfg.MinTimeout || cfg.DefaultTimeout > cfg.MaxTimeout {
		return fmt.Errorf("invalid -timeout %v: outside -min-timeout %v .. -max-timeout %v", cfg.DefaultTimeout, cfg.MinTimeout, cfg.MaxTimeout)
	}
	if cfg.AnnounceMax == 0 {
		return fmt.Errorf("invalid -announce-max 0: must be positive, or negative to disable interval mode")
	}
	ints := []struct {
		name string
		v    int
	}{
		{"-max-polls-per-uuid", opt.MaxPollsPerUUID}, {"-max-polls", opt.MaxPolls},
		{"-event-log", opt.LogSize}, {"-max-names", cfg.MaxNamesPerCall},
	}
	for _, n := range ints {
		if n.v < 1 {
			return fmt.Errorf("invalid %s %d: must be at least 1", n.name, n.v)
		}
	}
	return bf.check()
}

// checkConfig runs the engine's own checks of cfg (New's), for either
// backend, before anything connects.
func checkConfig(cfg presence.Config) error {
	cfg.SweepInterval = -1 // no goroutine for a check
	eng, err := presence.New(cfg)
	if err != nil {
		return err
	}
	return eng.Close()
}
