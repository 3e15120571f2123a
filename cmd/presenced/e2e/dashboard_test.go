package e2e

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var screenshot = flag.String("screenshot", "", "also save the dashboard's screenshot to this PNG file (the README's is docs/dashboard.png), after a busier scene")

// chromium returns the browser to drive: $CHROMIUM, else Debian's
// chromium. Without one the test is skipped, unless CI is set.
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no chromium on PATH and CI is set: the browser test must run in CI (apt-get install chromium)")
	}
	t.Skip("no chromium on PATH: apt-get install chromium to run the browser test")
	return ""
}

// presenced builds and runs presenced with an admin listener and returns
// its public and admin URLs; it is stopped when the test ends.
func presenced(t *testing.T, args ...string) (public, admin string) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "presenced")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building presenced: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("presenced's log:\n%s", stderr.String())
		}
	})
	lines := bufio.NewScanner(stdout)
	for public == "" || admin == "" {
		if !lines.Scan() {
			t.Fatalf("presenced exited before printing its addresses:\n%s", stderr.String())
		}
		if a, ok := strings.CutPrefix(lines.Text(), "presenced: listening on "); ok {
			public = a
		}
		if a, ok := strings.CutPrefix(lines.Text(), "presenced: admin on "); ok {
			admin = a
		}
	}
	go io.Copy(io.Discard, stdout)
	return public, admin
}

// call sends one PubNub REST call and fails the test unless it answers 200.
func call(t *testing.T, base, path string) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
}

func heartbeat(t *testing.T, base, channel, uuid string, timeout int) {
	t.Helper()
	call(t, base, fmt.Sprintf("/v2/presence/sub-key/demo/channel/%s/heartbeat?uuid=%s&heartbeat=%d", channel, uuid, timeout))
}

// TestDashboardInBrowser loads the dashboard in headless Chromium and
// follows two uuids through it: both join and appear with the channel's
// occupancy, one's state is set and shown, the other times out and
// disappears. Every wait is bounded.
func TestDashboardInBrowser(t *testing.T) {
	browser := chromium(t)
	public, admin := presenced(t, "-min-timeout", "1s", "-sweep-interval", "100ms", "-announce-max", "50")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.WindowSize(1440, 1000),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	// waitFor polls a JavaScript condition in the page for at most 15 s.
	waitFor := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(15*time.Second), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("waiting for %s: %v\npage:\n%.3000s", what, err, html)
		}
	}

	if *screenshot != "" {
		busy(ctx, t, public)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(admin+"/")); err != nil {
		t.Fatal(err)
	}
	waitFor("the live event stream", `document.getElementById("conn").textContent === "live"`)

	heartbeat(t, public, "lobby", "ann", 60)
	heartbeat(t, public, "lobby", "bob", 60)
	row := `document.querySelector('#top li[data-channel="lobby"]')`
	waitFor("lobby with occupancy 2 among the busiest channels", row+` && `+row+`.dataset.occupancy === "2"`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#top li[data-channel="lobby"]`))); err != nil {
		t.Fatal(err)
	}
	occupant := func(uuid string) string {
		return `document.querySelector('#occupants-body tr[data-uuid="` + uuid + `"]')`
	}
	waitFor("ann and bob listed in lobby, occupancy 2",
		occupant("ann")+` && `+occupant("bob")+` && document.getElementById("ch-occupancy").dataset.occupancy === "2"`)
	waitFor("both joins in the live feed",
		`document.querySelectorAll('#feed li[data-action="join"][data-channel="lobby"]').length === 2`)

	call(t, public, "/v2/presence/sub-key/demo/channel/lobby/uuid/ann/data?state="+url.QueryEscape(`{"mood":"happy"}`))
	waitFor("ann's state in the occupants", occupant("ann")+` && `+occupant("ann")+`.textContent.includes('"mood":"happy"')`)
	waitFor("ann's state change in the live feed", `document.querySelector('#feed li[data-action="state-change"][data-uuid="ann"]') !== null`)

	heartbeat(t, public, "lobby", "bob", 1) // bob's deadline is now 1 s away, and he sends no more
	waitFor("bob gone from lobby, occupancy 1",
		`!`+occupant("bob")+` && `+occupant("ann")+` && document.getElementById("ch-occupancy").dataset.occupancy === "1"`)
	waitFor("bob's timeout in the live feed", `document.querySelector('#feed li[data-action="timeout"][data-uuid="bob"]') !== null`)
	waitFor("lobby's occupancy 1 among the busiest channels", row+` && `+row+`.dataset.occupancy === "1"`)

	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "dashboard.png")
	if *screenshot != "" {
		out = *screenshot
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(png))
}

// busy makes a livelier scene for the README's screenshot: uuids joining,
// leaving and changing state on a few channels for about 40 s, so that the
// chart has a history, and in the background for the rest of the test.
func busy(ctx context.Context, t *testing.T, public string) {
	t.Helper()
	channels := []string{"game-17", "game-42", "chat:support", "room-a"}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop); wg.Wait() })
	tick := func(i int) {
		c := channels[i%len(channels)]
		u := fmt.Sprintf("player-%d", (i*7)%37)
		get := func(path string) {
			if resp, err := http.Get(public + path); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		timeout := 3 + i%9
		get(fmt.Sprintf("/v2/presence/sub-key/demo/channel/%s/heartbeat?uuid=%s&heartbeat=%d", c, u, timeout))
		if i%5 == 0 {
			get(fmt.Sprintf("/v2/presence/sub-key/demo/channel/%s/uuid/%s/data?state=%s", c, u, url.QueryEscape(fmt.Sprintf(`{"score":%d}`, i%100))))
		}
		if i%11 == 0 {
			get(fmt.Sprintf("/v2/presence/sub-key/demo/channel/%s/leave?uuid=%s", c, u))
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(60+(i*37)%140) * time.Millisecond):
			}
			tick(i)
		}
	}()
	time.Sleep(40 * time.Second)
}
