package conformance

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
	"github.com/presencekit/presence/pubnubhttp/pam"
	pubnub "github.com/pubnub/go/v7"
)

// pamKeys is the keyset of the Access Manager tests: the server SDK holds
// all three keys, clients only the sub and pub keys.
var pamKeys = pam.Keyset{SubscribeKey: "demo", PublishKey: "demo", SecretKey: "conformance-secret"}

// startPAMServer runs the presence server with Access Manager on, as
// cmd/presenced does with -subscribe-key, -publish-key and -secret-key, with
// the engine and the Manager on clk (set to the real time: the server SDK
// signs with its own clock).
func startPAMServer(t *testing.T, clk clock.Clock) (origin string, m *pam.Manager) {
	t.Helper()
	eng, err := presence.New(presence.Config{Clock: clk})
	if err != nil {
		t.Fatalf("presence.New: %v", err)
	}
	m, err = pam.New(pamKeys, pam.Options{Clock: clk})
	if err != nil {
		t.Fatalf("pam.New: %v", err)
	}
	h, err := pubnubhttp.New(eng, pubnubhttp.Options{PollTimeout: 5 * time.Second, Authorizer: m})
	if err != nil {
		t.Fatalf("pubnubhttp.New: %v", err)
	}
	srv := httptest.NewUnstartedServer(m.Wrap(h))
	srv.Listener = pubnubhttp.Listen(srv.Listener) // long-polls are parked, as in cmd/presenced
	srv.Start()
	t.Cleanup(func() {
		_ = h.Close()
		srv.Close()
		_ = eng.Close()
	})
	u, _ := url.Parse(srv.URL)
	return u.Host, m
}

// newServerSDK returns a Go SDK client holding the secret key: it signs
// every request, so it may grant, revoke and call anything.
func newServerSDK(t *testing.T, origin string) *pubnub.PubNub {
	t.Helper()
	config := pubnub.NewConfigWithUserId(pubnub.UserId("game-server"))
	config.SubscribeKey = pamKeys.SubscribeKey
	config.PublishKey = pamKeys.PublishKey
	config.SecretKey = pamKeys.SecretKey
	config.Origin = origin
	config.Secure = false
	return pubnub.NewPubNub(config)
}

// grantToken grants with the server SDK and fails the test on error.
func grantToken(t *testing.T, server *pubnub.PubNub, ttl int, uuid string, channels map[string]pubnub.ChannelPermissions) string {
	t.Helper()
	b := server.GrantToken().TTL(ttl).Channels(channels)
	if uuid != "" {
		b = b.AuthorizedUUID(uuid)
	}
	res, _, err := b.Execute()
	if err != nil {
		t.Fatalf("GrantToken: %v", err)
	}
	if res.Data.Token == "" {
		t.Fatalf("GrantToken: empty token in %+v", res.Data)
	}
	return res.Data.Token
}

// status403 fails unless err and st are the SDK's report of a 403.
func status403(t *testing.T, what string, st pubnub.StatusResponse, err error) {
	t.Helper()
	if err == nil || st.StatusCode != 403 {
		t.Errorf("%s: status %d, error %v; want 403", what, st.StatusCode, err)
	}
}

func TestAccessManagerHereNow(t *testing.T) {
	origin, _ := startPAMServer(t, nil)
	server := newServerSDK(t, origin)
	client := newClient(t, origin, "alice")

	if _, _, err := server.Heartbeat().Channels([]string{"a", "b"}).Execute(); err != nil {
		t.Fatalf("server SDK heartbeat (signed, allowed everything): %v", err)
	}

	_, st, err := client.HereNow().Channels([]string{"a"}).Execute()
	status403(t, "here_now without a token", st, err)

	tok := grantToken(t, server, 60, "", map[string]pubnub.ChannelPermissions{"a": {Read: true}})
	parsed, err := pubnub.ParseToken(tok)
	if err != nil {
		t.Fatalf("the Go SDK's ParseToken: %v", err)
	}
	if !parsed.Resources.Channels["a"].Read || parsed.TTL != 60 || parsed.Version != 2 {
		t.Errorf("ParseToken: %+v, want read on a, ttl 60, version 2", parsed)
	}
	client.SetToken(tok)
	res, _, err := client.HereNow().Channels([]string{"a"}).Execute()
	if err != nil {
		t.Fatalf("here_now of a with read on a: %v", err)
	}
	if c, ok := channelData(res, "a"); !ok || c.Occupancy != 1 || !slices.Equal(occupants(c), []string{"game-server"}) {
		t.Errorf("here_now of a: %s, want game-server", asJSON(res))
	}
	_, st, err = client.HereNow().Channels([]string{"b"}).Execute()
	status403(t, "here_now of b with read on a only", st, err)
	_, st, err = client.HereNow().Channels([]string{"a", "b"}).Execute()
	status403(t, "here_now of a and b with read on a only", st, err)
}

func TestAccessManagerAuthorizedUUID(t *testing.T) {
	origin, _ := startPAMServer(t, nil)
	server := newServerSDK(t, origin)
	bob := newClient(t, origin, "bob")
	bobTok := grantToken(t, server, 60, "bob", map[string]pubnub.ChannelPermissions{"room": {Read: true}})
	bob.SetToken(bobTok)
	if _, _, err := bob.Heartbeat().Channels([]string{"room"}).Execute(); err != nil {
		t.Fatalf("bob's heartbeat with his token: %v", err)
	}
	if _, _, err := bob.SetState().Channels([]string{"room"}).State(map[string]any{"mood": "calm"}).Execute(); err != nil {
		t.Fatalf("bob's set_state with his token: %v", err)
	}

	aliceTok := grantToken(t, server, 60, "alice", map[string]pubnub.ChannelPermissions{"room": {Read: true}})
	alice := newClient(t, origin, "alice")
	alice.SetToken(aliceTok)
	_, st, err := alice.SetState().UUID("bob").Channels([]string{"room"}).State(map[string]any{"mood": "angry"}).Execute()
	status403(t, "alice sets bob's state", st, err)

	// Alice's token in a client that says it is bob.
	thief := newClient(t, origin, "bob")
	thief.SetToken(aliceTok)
	st, err = thief.Leave().Channels([]string{"room"}).Execute()
	status403(t, "alice's token makes bob leave", st, err)
	_, st, err = thief.SetState().Channels([]string{"room"}).State(map[string]any{"mood": "angry"}).Execute()
	status403(t, "alice's token sets bob's state as bob", st, err)

	res, _, err := server.HereNow().Channels([]string{"room"}).IncludeState(true).Execute()
	if err != nil {
		t.Fatalf("server here_now: %v", err)
	}
	c, _ := channelData(res, "room")
	if !slices.Equal(occupants(c), []string{"bob"}) || len(c.Occupants) != 1 || asJSON(c.Occupants[0].State) != `{"mood":"calm"}` {
		t.Errorf("after the refused calls: %s, want bob present with his own state", asJSON(res))
	}
}

func TestAccessManagerExpiry(t *testing.T) {
	clk := clock.NewMock()
	clk.Set(time.Now())
	origin, _ := startPAMServer(t, clk)
	server := newServerSDK(t, origin)
	tok := grantToken(t, server, 1, "", map[string]pubnub.ChannelPermissions{"a": {Read: true}})
	client := newClient(t, origin, "alice")
	client.SetToken(tok)
	if _, _, err := client.HereNow().Channels([]string{"a"}).Execute(); err != nil {
		t.Fatalf("here_now with a fresh 1-minute token: %v", err)
	}
	clk.Add(59 * time.Second)
	if _, _, err := client.HereNow().Channels([]string{"a"}).Execute(); err != nil {
		t.Fatalf("here_now 59 s later: %v", err)
	}
	clk.Add(time.Second)
	_, st, err := client.HereNow().Channels([]string{"a"}).Execute()
	status403(t, "here_now once the token expired", st, err)
}

func TestAccessManagerRevoke(t *testing.T) {
	origin, _ := startPAMServer(t, nil)
	server := newServerSDK(t, origin)
	tok := grantToken(t, server, 60, "", map[string]pubnub.ChannelPermissions{"a": {Read: true}})
	client := newClient(t, origin, "alice")
	client.SetToken(tok)
	if _, _, err := client.HereNow().Channels([]string{"a"}).Execute(); err != nil {
		t.Fatalf("here_now before the revoke: %v", err)
	}
	if _, _, err := server.RevokeToken().Token(tok).Execute(); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	_, st, err := client.HereNow().Channels([]string{"a"}).Execute()
	status403(t, "here_now after the revoke", st, err)
}

func TestAccessManagerSubscribeNeedsPresenceChannel(t *testing.T) {
	origin, _ := startPAMServer(t, nil)
	server := newServerSDK(t, origin)
	tok := grantToken(t, server, 60, "alice", map[string]pubnub.ChannelPermissions{"a": {Read: true}})
	client := newClient(t, origin, "alice")
	client.SetToken(tok)
	l := pubnub.NewListener()
	client.AddListener(l)
	client.Subscribe().Channels([]string{"a"}).WithPresence(true).Execute()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case st := <-l.Status:
			if st.Category == pubnub.PNAccessDeniedCategory {
				res, _, err := server.HereNow().Channels([]string{"a"}).Execute()
				if err != nil {
					t.Fatalf("server here_now: %v", err)
				}
				if c, _ := channelData(res, "a"); c.Occupancy != 0 {
					t.Errorf("after the refused subscribe: %s, want nobody on a", asJSON(res))
				}
				return
			}
			if st.Category == pubnub.PNConnectedCategory {
				t.Fatalf("subscribe with presence to a without read on a-pnpres connected")
			}
		case <-l.Presence:
		case <-deadline:
			t.Fatal("no PNAccessDeniedCategory status within 15 s")
		}
	}
}

func TestAccessManagerSubKey(t *testing.T) {
	origin, _ := startPAMServer(t, nil)
	config := pubnub.NewConfigWithUserId(pubnub.UserId("alice"))
	config.SubscribeKey = "sub-c-another"
	config.PublishKey = "demo"
	config.Origin = origin
	config.Secure = false
	pn := pubnub.NewPubNub(config)
	_, st, err := pn.HereNow().Channels([]string{"a"}).Execute()
	if err == nil || st.StatusCode != 400 || !strings.Contains(err.Error(), "Invalid Subscribe Key") {
		t.Errorf("here_now with another sub key: status %d, error %v; want 400 Invalid Subscribe Key", st.StatusCode, err)
	}
}
