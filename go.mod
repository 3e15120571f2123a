module github.com/presencekit/presence

go 1.26

require (
	github.com/benbjohnson/clock v1.3.5
	github.com/hashicorp/golang-lru/v2 v2.0.7
	pgregory.net/rapid v1.3.0
)
