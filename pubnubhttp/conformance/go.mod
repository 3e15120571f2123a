module github.com/presencekit/presence/pubnubhttp/conformance

go 1.26

require (
	github.com/presencekit/presence v0.2.0
	github.com/presencekit/presence/pubnubhttp v0.2.0
	github.com/pubnub/go/v7 v7.3.2
)

require (
	github.com/benbjohnson/clock v1.3.5 // indirect
	github.com/brianolson/cbor_go v1.0.0 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	github.com/stretchr/testify v1.10.0 // indirect
	golang.org/x/net v0.35.0 // indirect
	golang.org/x/text v0.22.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
