package presenceredis_test

import (
	"context"
	"fmt"
	"log"

	"github.com/presencekit/presence"
	presenceredis "github.com/presencekit/presence/redis"
	"github.com/redis/go-redis/v9"
)

// Every instance of the application runs this against the same Redis with
// the same Prefix: they share one presence view. (Not run by go test: it
// needs a Redis server on 127.0.0.1:6379.)
func ExampleNew() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: []string{"127.0.0.1:6379"}})
	defer client.Close()
	b, err := presenceredis.New(client, presenceredis.Config{
		Config:  presence.Config{AnnounceMax: 20, Deltas: true},
		Prefix:  "myapp:presence",
		OnError: func(err error) { log.Print(err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()

	sub, err := b.Subscribe(ctx, presence.SubscribeOptions{Channels: []string{"lobby"}})
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Heartbeat(ctx, presence.HeartbeatRequest{UUID: "alice", Channels: []string{"lobby"}}); err != nil {
		log.Fatal(err) // wraps presenceredis.presence.ErrUnavailable when Redis cannot be reached
	}
	for ev := range sub.Events() {
		if presenceredis.IsResync(ev) {
			r, _ := b.HereNow(ctx, presence.HereNowQuery{Channels: []string{"lobby"}})
			fmt.Println("reloaded: occupancy", r.TotalOccupancy)
			continue
		}
		fmt.Println(ev.Action, ev.Channel, ev.UUID, ev.Occupancy)
		break
	}
}
