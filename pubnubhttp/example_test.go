package pubnubhttp_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
)

// Serve an in-memory engine (any presence.Backend works the same way) over PubNub's REST API and call it as an SDK would: a
// heartbeat, then here_now.
func Example() {
	eng, err := presence.New(presence.Config{})
	if err != nil {
		panic(err)
	}
	defer eng.Close()
	h, err := pubnubhttp.New(eng, pubnubhttp.Options{})
	if err != nil {
		panic(err)
	}
	defer h.Close()
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, path := range []string{
		"/v2/presence/sub-key/demo/channel/room/heartbeat?uuid=alice&heartbeat=60",
		"/v2/presence/sub_key/demo/channel/room?uuid=bob",
		"/v2/presence/sub-key/demo/channel/room/uuid/alice/data?state=%7B%22mood%22%3A%22ok%22%7D&uuid=alice",
		"/v2/presence/sub_key/demo/channel/room,hall?state=1&uuid=bob",
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, string(body))
	}
	// Output:
	// 200 {"message":"OK","service":"Presence","status":200}
	// 200 {"message":"OK","occupancy":1,"service":"Presence","status":200,"uuids":["alice"]}
	// 200 {"message":"OK","payload":{"mood":"ok"},"service":"Presence","status":200}
	// 200 {"message":"OK","payload":{"channels":{"room":{"occupancy":1,"uuids":[{"state":{"mood":"ok"},"uuid":"alice"}]}},"total_channels":1,"total_occupancy":1},"service":"Presence","status":200}
}
