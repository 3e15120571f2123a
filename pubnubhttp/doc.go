// Package pubnubhttp serves a presence backend (github.com/presencekit/presence:
// the in-memory Engine, the Redis backend, any presence.Backend) over
// PubNub's presence REST API, so that the official PubNub SDKs, pointed at
// a local origin with TLS off, work against it unchanged.
//
// It answers here_now (single-channel and multi-channel shapes), global
// here_now, where_now, heartbeat, leave, set_state and get_state, the
// channel-registration API, /time/0, and /v2/subscribe for presence: a
// subscribe long-poll counts as a heartbeat for the channels and groups it
// names, and delivers the join, leave, timeout, state-change and interval
// events of the "<channel>-pnpres" and "<group>-pnpres" names it names in
// PubNub's subscribe envelope. Publishing messages is out of scope.
//
// Subscribe reads a bounded log of the backend's events by cursor. A held
// long-poll sleeps until an event of its own channels or groups is logged.
// An event's cursor is its timetoken, so with a backend shared by several
// servers (the Redis backend) a client may resume on any of them with the
// cursor another gave it. A client that fell behind the log, or whose
// events this server could not log, is told to resync with
// here_now_refresh interval events rather than silently skipped ahead.
//
// Errors use PubNub's envelope ({"status","error","message","service"})
// with the matching HTTP status; a request with bad input changes nothing.
// A backend that cannot reach its store (presence.ErrUnavailable) makes the
// request a 503. Every backend call gets the request's context, bounded by
// Options.CallTimeout.
//
//	eng, _ := presence.New(presence.Config{})
//	h, _ := pubnubhttp.New(eng, pubnubhttp.Options{})
//	srv := &http.Server{Addr: "127.0.0.1:8090", Handler: h, MaxHeaderBytes: 1 << 20}
//	srv.RegisterOnShutdown(func() { h.Close() })
//
// Served through Listen (srv.Serve(pubnubhttp.Listen(ln))), held long-polls
// are parked: they wait without a goroutine each, and their connections
// return to the server after the answer.
//
// Access control is optional: Options.Authorizer is asked about every
// request before it touches the backend, and a refusal (*AccessDenied) is
// answered in PubNub's Access Manager envelope. Package pam is PubNub's
// Access Manager v3 (tokens granted with the secret key) on it; an embedder
// may plug its own rules instead.
//
// The program github.com/presencekit/presence/cmd/presenced runs such a
// server, on the in-memory engine or on Redis.
package pubnubhttp
