// Command installcheck is what scripts/install-check.sh builds in an empty
// folder outside the repository, against the project's modules as the
// versions file publishes them: it imports the core, the PubNub REST facade
// and the Redis backend, makes a uuid present through the facade's
// heartbeat endpoint and reads it back from the engine. It lives under
// testdata so that the repository's own builds ignore it.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/pubnubhttp"
	presenceredis "github.com/presencekit/presence/redis"
)

// The Redis backend implements the one presence API.
var _ presence.Backend = (*presenceredis.Backend)(nil)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "installcheck:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	e, err := presence.New(presence.Config{})
	if err != nil {
		return err
	}
	defer e.Close()
	h, err := pubnubhttp.New(e, pubnubhttp.Options{})
	if err != nil {
		return err
	}
	srv := httptest.NewServer(h) // 127.0.0.1, a free port
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/v2/presence/sub-key/demo/channel/lobby/heartbeat?uuid=alice&heartbeat=60")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("heartbeat: got status %d (%s), want 200", resp.StatusCode, body)
	}
	n, err := e.Occupancy(ctx, "lobby")
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("occupancy of lobby after alice's heartbeat: got %d, want 1", n)
	}
	fmt.Println("installcheck: core, pubnubhttp and redis imported; lobby occupancy", n)
	return nil
}
