package presencemetrics_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/presencekit/presence"
	presencemetrics "github.com/presencekit/presence/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Example registers the collector of an engine in a registry of its own
// and serves it, as an embedder would on its admin listener.
func Example() {
	m, err := presencemetrics.New(presencemetrics.Options{})
	if err != nil {
		log.Fatal(err)
	}
	eng, err := presence.New(presence.Config{OnSweep: m.ObserveSweep})
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close()
	if err := m.Watch(eng); err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	eng.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "ann", Channels: []string{"lobby"}})
	resp, err := http.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "presence_memberships ") || strings.HasPrefix(line, "presence_uuids ") {
			fmt.Println(line)
		}
	}
	// Output:
	// presence_memberships 1
	// presence_uuids 1
}
