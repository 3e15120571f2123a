// Package pubnubhttp serves an in-memory presence engine
// (github.com/presencekit/presence) over PubNub's presence REST API, so that
// the official PubNub SDKs, pointed at a local origin with TLS off, work
// against it unchanged.
//
// It answers here_now (single-channel and multi-channel shapes), global
// here_now, where_now, heartbeat, leave, set_state and get_state, the
// channel-registration API, /time/0, and /v2/subscribe for presence: a
// subscribe long-poll counts as a heartbeat for the channels and groups it
// names, and delivers the join, leave, timeout, state-change and interval
// events of the "<channel>-pnpres" and "<group>-pnpres" names it names in
// PubNub's subscribe envelope. Publishing messages is out of scope.
//
// Subscribe reads a bounded log of the engine's events by cursor; a client
// that fell behind it is told to resync with here_now_refresh interval
// events rather than silently skipped ahead.
//
// Errors use PubNub's envelope ({"status","error","message","service"})
// with the matching HTTP status; a request with bad input changes nothing.
//
//	cfg := presence.Config{}
//	eng, _ := presence.New(cfg)
//	h, _ := pubnubhttp.New(eng, pubnubhttp.Options{Engine: cfg})
//	srv := &http.Server{Addr: "127.0.0.1:8090", Handler: h}
//	srv.RegisterOnShutdown(func() { h.Close() })
//
// The program cmd/presenced runs such a server with flags for the engine's
// Config.
package pubnubhttp
