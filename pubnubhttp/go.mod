module github.com/presencekit/presence/pubnubhttp

go 1.26

require (
	github.com/benbjohnson/clock v1.3.5
	github.com/presencekit/presence v0.2.0
)

require github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
