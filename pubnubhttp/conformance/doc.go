// Package conformance proves the pubnubhttp server against the real PubNub
// Go SDK (github.com/pubnub/go/v7 v7.3.2): several SDK clients with
// different uuids call every presence API of the server on a loopback port,
// and a presence listener receives join, state-change, leave, timeout and
// interval events through subscribe. It is its own module so that the SDK
// never becomes a dependency of the engine or of the server.
//
// The tests are in conformance_test.go; run them with go test ./... in this
// directory. The JavaScript SDK's tests are in js/.
package conformance
