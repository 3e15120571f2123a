package pubnubhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"sync"
	"testing"

	"github.com/presencekit/presence"
)

// recordingAuthorizer records every Access and answers with err.
type recordingAuthorizer struct {
	mu  sync.Mutex
	got []Access
	err error
}

func (r *recordingAuthorizer) Authorize(_ context.Context, a Access) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.Request == nil {
		return errors.New("no request")
	}
	a.Request = nil
	r.got = append(r.got, a)
	return r.err
}

func (r *recordingAuthorizer) last() (Access, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) == 0 {
		return Access{}, 0
	}
	return r.got[len(r.got)-1], len(r.got)
}

func TestAuthorizerSeesEachRequest(t *testing.T) {
	auth := &recordingAuthorizer{}
	f := newFixture(t, presence.Config{}, Options{Authorizer: auth, PollTimeout: 1})
	type names = []string
	for _, tc := range []struct {
		target string
		want   Access
	}{
		{"/v2/presence/sub-key/demo/channel/a,b?uuid=u&auth=tok&channel-group=g",
			Access{Op: OpHereNow, SubKey: "demo", UUID: "u", Auth: "tok", Channels: names{"a", "b"}, Groups: names{"g"}}},
		{"/v2/presence/sub_key/demo?uuid=u",
			Access{Op: OpHereNow, SubKey: "demo", UUID: "u"}},
		{"/v2/presence/sub-key/demo/uuid/bob?uuid=alice&auth=t%2Bk",
			Access{Op: OpWhereNow, SubKey: "demo", UUID: "alice", Target: "bob", Auth: "t+k"}},
		{"/v2/presence/sub-key/demo/channel/a,a-pnpres/heartbeat?uuid=u&channel-group=g,g-pnpres",
			Access{Op: OpHeartbeat, SubKey: "demo", UUID: "u", Target: "u", Channels: names{"a"}, Groups: names{"g"}}},
		{"/v2/presence/sub-key/demo/channel/a,a-pnpres/leave?uuid=u",
			Access{Op: OpLeave, SubKey: "demo", UUID: "u", Target: "u", Channels: names{"a"}}},
		{`/v2/presence/sub-key/demo/channel/a/uuid/bob/data?uuid=alice&state={"x":1}`,
			Access{Op: OpSetState, SubKey: "demo", UUID: "alice", Target: "bob", Channels: names{"a"}}},
		{"/v2/presence/sub-key/demo/channel/a/uuid/bob?uuid=alice",
			Access{Op: OpGetState, SubKey: "demo", UUID: "alice", Target: "bob", Channels: names{"a"}}},
		{"/v2/subscribe/demo/a,a-pnpres/0?uuid=u&tt=0&channel-group=g-pnpres",
			Access{Op: OpSubscribe, SubKey: "demo", UUID: "u", Target: "u", Channels: names{"a", "a-pnpres"}, Groups: names{"g-pnpres"}}},
		{"/v1/channel-registration/sub-key/demo/channel-group?uuid=u",
			Access{Op: OpListGroups, SubKey: "demo", UUID: "u"}},
		{"/v1/channel-registration/sub-key/demo/channel-group/g?uuid=u",
			Access{Op: OpGroupChannels, SubKey: "demo", UUID: "u", Groups: names{"g"}}},
		{"/v1/channel-registration/sub-key/demo/channel-group/g?add=x,y&uuid=u",
			Access{Op: OpAddChannels, SubKey: "demo", UUID: "u", Channels: names{"x", "y"}, Groups: names{"g"}}},
		{"/v1/channel-registration/sub-key/demo/channel-group/g?remove=x&uuid=u",
			Access{Op: OpRemoveChannels, SubKey: "demo", UUID: "u", Channels: names{"x"}, Groups: names{"g"}}},
		{"/v1/channel-registration/sub-key/demo/channel-group/g/remove?uuid=u",
			Access{Op: OpDeleteGroup, SubKey: "demo", UUID: "u", Groups: names{"g"}}},
	} {
		_, before := auth.last()
		f.do(tc.target)
		got, n := auth.last()
		if n != before+1 {
			t.Errorf("GET %s: Authorize called %d times, want once", tc.target, n-before)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("GET %s:\n got %+v\nwant %+v", tc.target, got, tc.want)
		}
	}
	_, before := auth.last()
	f.do("/time/0")
	if _, n := auth.last(); n != before {
		t.Errorf("GET /time/0: Authorize called, want not")
	}
}

// TestAuthorizerRefusalChangesNothing: every call refused by the
// authorizer is answered 403 in the Access Manager envelope and changes
// nothing in the backend.
func TestAuthorizerRefusalChangesNothing(t *testing.T) {
	auth := &recordingAuthorizer{}
	f := newFixture(t, presence.Config{}, Options{Authorizer: auth})
	ctx := context.Background()
	f.heartbeat("bob", "a")
	if _, err := f.eng.SetState(ctx, presence.SetStateRequest{UUID: "bob", Channels: []string{"a"}, State: json.RawMessage(`{"mood":"calm"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := f.eng.AddChannels(ctx, "g", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	auth.err = &AccessDenied{Channels: []string{"a"}, Groups: []string{"g"}}
	for _, target := range []string{
		"/v2/presence/sub-key/demo/channel/b/heartbeat?uuid=eve",
		"/v2/presence/sub-key/demo/channel/a/leave?uuid=bob",
		`/v2/presence/sub-key/demo/channel/a/uuid/bob/data?uuid=eve&state={"mood":"angry"}`,
		"/v1/channel-registration/sub-key/demo/channel-group/g?add=b&uuid=eve",
		"/v1/channel-registration/sub-key/demo/channel-group/g?remove=a&uuid=eve",
		"/v1/channel-registration/sub-key/demo/channel-group/g/remove?uuid=eve",
		"/v2/subscribe/demo/c,c-pnpres/0?uuid=eve&tt=0&heartbeat=60",
	} {
		code, body := f.do(target)
		got := decode(t, body)
		want := `{"status":403,"error":true,"message":"Forbidden","service":"Access Manager","payload":{"channels":["a"],"channel-groups":[":g"]}}`
		if code != http.StatusForbidden || !jsonEqual(t, got, want) {
			t.Errorf("GET %s: %d %s, want 403 %s", target, code, body, want)
		}
	}
	res, err := f.eng.HereNow(ctx, presence.HereNowQuery{IncludeState: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v", res.Channels); len(res.Channels) != 1 || res.Channels[0].Channel != "a" ||
		len(res.Channels[0].Occupants) != 1 || string(res.Channels[0].Occupants[0].State) != `{"mood":"calm"}` {
		t.Errorf("after the refused calls: %s, want bob alone on a with his state", got)
	}
	if chans, _ := f.eng.GroupChannels(ctx, "g"); !reflect.DeepEqual(chans, []string{"a"}) {
		t.Errorf("group g after the refused edits: %v, want [a]", chans)
	}
}

func TestAuthorizerErrors(t *testing.T) {
	auth := &recordingAuthorizer{}
	f := newFixture(t, presence.Config{}, Options{Authorizer: auth})
	for _, tc := range []struct {
		err    error
		status int
		want   string
	}{
		{&AccessDenied{Status: 400, Message: "Invalid Subscribe Key"}, 400,
			`{"status":400,"error":true,"message":"Invalid Subscribe Key","service":"Access Manager"}`},
		{fmt.Errorf("wrapped: %w", &AccessDenied{Status: 200}), 403,
			`{"status":403,"error":true,"message":"Forbidden","service":"Access Manager"}`},
		{fmt.Errorf("store: %w", presence.ErrUnavailable), 503, ""},
		{errors.New("bug"), 500, ""},
	} {
		auth.err = tc.err
		code, body := f.do("/v2/presence/sub-key/demo/channel/a?uuid=u")
		if code != tc.status || tc.want != "" && !jsonEqual(t, decode(t, body), tc.want) {
			t.Errorf("Authorize error %v: %d %s, want %d %s", tc.err, code, body, tc.status, tc.want)
		}
	}
	auth.err = nil
	if code, body := f.do("/v2/presence/sub-key/demo/channel/a?uuid=u"); code != 200 {
		t.Errorf("Authorize nil: %d %s, want 200", code, body)
	}
}

func TestAccessDeniedError(t *testing.T) {
	e := &AccessDenied{Channels: []string{"a"}, Groups: []string{"g"}}
	if got, want := e.Error(), `pubnubhttp: access denied: Forbidden; channels ["a"]; groups ["g"]`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got := Operation(200).String(); got != "Operation(200)" {
		t.Errorf("Operation(200).String() = %q", got)
	}
}
