package presence_test

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

// TestSlowCountRacesClose is finding 7a of the reliability issue,
// confirmed: a subscription closed as slow while its owner calls Close
// must be counted in Stats.SlowSubscriptions exactly when its Err is
// ErrSlowConsumer. The owner's Close used to unregister it between the
// slow close and the count, and the count was skipped.
func TestSlowCountRacesClose(t *testing.T) {
	e, err := presence.New(presence.Config{Clock: presencetest.NewManualClock(presencetest.Epoch), SweepInterval: -1, MinTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rounds := 3000
	if testing.Short() {
		rounds = 300
	}
	slow := uint64(0)
	for i := range rounds {
		sub, err := e.Subscribe(ctx, presence.SubscribeOptions{Channels: []string{"c"}, Buffer: 1})
		if err != nil {
			t.Fatal(err)
		}
		uuid := fmt.Sprint("u", i)
		e.Heartbeat(ctx, presence.HeartbeatRequest{UUID: uuid, Channels: []string{"c"}}) // fills the buffer
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			e.Leave(ctx, presence.LeaveRequest{UUID: uuid, Channels: []string{"c"}}) // finds it full
		}()
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				runtime.Gosched()
			}
			sub.Close()
		}()
		wg.Wait()
		if errors.Is(sub.Err(), presence.ErrSlowConsumer) {
			slow++
		}
		if st, _ := e.Stats(ctx); st.SlowSubscriptions != slow {
			t.Fatalf("round %d: Stats.SlowSubscriptions = %d, but %d subscriptions ended with ErrSlowConsumer", i, st.SlowSubscriptions, slow)
		}
	}
	if slow == 0 {
		t.Logf("no round closed a subscription as slow before its owner closed it")
	}
}
