package presence

import "testing"

// TestDeltasJSONSizeZeroDelta is finding 5 of the reliability issue in the
// engine: a zero Delta, or one whose Action is not a membership change,
// counts for nothing and does not panic.
func TestDeltasJSONSizeZeroDelta(t *testing.T) {
	for _, ds := range [][]Delta{{{}}, {{Action: StateChange, UUID: "u"}}, {{Action: Action(200), UUID: "u"}}, {{UUID: "only a uuid"}}} {
		if got := deltasJSONSize(ds); got != 0 {
			t.Fatalf("deltasJSONSize(%+v) = %d, want 0", ds, got)
		}
	}
	if got, want := deltasJSONSize([]Delta{{}, {Action: Timeout, UUID: "u"}}), len(`"timeout":["u"]`); got != want {
		t.Fatalf("deltasJSONSize = %d, want %d", got, want)
	}
}
