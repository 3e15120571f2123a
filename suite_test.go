package presence_test

import (
	"testing"

	"github.com/presencekit/presence"
	"github.com/presencekit/presence/presencetest"
)

func TestBehaviour(t *testing.T) {
	presencetest.Run(t, func(t *testing.T, cfg presence.Config) presencetest.Backend {
		e, err := presence.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}
