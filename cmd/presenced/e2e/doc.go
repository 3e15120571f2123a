// Package e2e holds the end-to-end test of presenced's dashboard in a real
// browser: it builds presenced, runs it with an admin listener, drives
// headless Chromium (Debian's chromium package) through chromedp, and
// checks what the page shows while uuids join, change state and time out
// through the PubNub REST API. It is a module of its own so that no
// published module depends on chromedp.
//
//	go test ./...                                  # needs /usr/bin/chromium (or CHROMIUM=path)
//	go test ./... -args -screenshot ../../../docs/dashboard.png
//
// Without Chromium the test is skipped, unless CI is set, where it fails.
package e2e
