// Package fuzz holds the engine's fuzz targets, apart from the package's
// own tests so that their seed corpora (testdata/fuzz) sit beside them and
// `go test ./fuzz` runs every seed as a regression test:
//
//	go test ./fuzz -run '^$' -fuzz FuzzOperations -fuzztime 5m
//
// FuzzOperations feeds the model-based property of presencetest.Check;
// FuzzState and FuzzNames compare the engine's input rules with
// independent ones (encoding/json, and the naming rules written out again).
package fuzz
