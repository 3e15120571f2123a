package pam_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
	"github.com/presencekit/presence/pubnubhttp/pam"
)

// A presence server with Access Manager: the Manager checks every request
// (Options.Authorizer) and serves the grant and revoke endpoints (Wrap).
// Here the game server grants in Go; a server SDK would call grantToken.
func Example() {
	eng, _ := presence.New(presence.Config{})
	defer eng.Close()
	m, err := pam.New(pam.Keyset{SubscribeKey: "sub-c-demo", PublishKey: "pub-c-demo", SecretKey: "sec-c-demo"},
		pam.Options{Clock: eng.Config().Clock})
	if err != nil {
		panic(err)
	}
	h, _ := pubnubhttp.New(eng, pubnubhttp.Options{Authorizer: m})
	defer h.Close()
	srv := httptest.NewServer(m.Wrap(h))
	defer srv.Close()

	token, _ := m.Grant(context.Background(), pam.Grant{
		TTL:            60, // minutes
		AuthorizedUUID: "alice",
		Resources:      pam.Resources{Channels: map[string]pam.Permission{"lobby": pam.Read}},
	})
	get := func(path string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	get("/v2/presence/sub-key/sub-c-demo/channel/lobby/heartbeat?uuid=alice&auth=" + token) // granted
	get("/v2/presence/sub-key/sub-c-demo/channel/lobby/heartbeat?uuid=alice")               // no token
	get("/v2/presence/sub-key/sub-c-demo/channel/vip/heartbeat?uuid=alice&auth=" + token)   // not granted
	get("/v2/presence/sub-key/sub-c-demo/channel/lobby/heartbeat?uuid=bob&auth=" + token)   // not alice
	// Output:
	// 200
	// 403
	// 403
	// 403
}
