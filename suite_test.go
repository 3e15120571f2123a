package presence_test

import (
	"context"
	"testing"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

func TestBehaviour(t *testing.T) {
	presencetest.Run(t, func(t *testing.T, cfg presence.Config) presence.Backend {
		e, err := presence.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}

// ctx is the context of the tests' calls: the engine does not consult it.
var ctx = context.Background()
