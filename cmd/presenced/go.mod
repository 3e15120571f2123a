module github.com/presencekit/presence/cmd/presenced

go 1.26.0

require (
	github.com/presencekit/presence v0.2.0
	github.com/presencekit/presence/pubnubhttp v0.2.0
	github.com/presencekit/presence/redis v0.2.0
	github.com/redis/go-redis/v9 v9.23.0
)

require (
	github.com/benbjohnson/clock v1.3.5 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
