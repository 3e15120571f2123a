module github.com/presencekit/presence/cmd/presenced

go 1.26

require (
	github.com/presencekit/presence v0.2.0
	github.com/presencekit/presence/pubnubhttp v0.2.0
)

require (
	github.com/benbjohnson/clock v1.3.5 // indirect
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
)
