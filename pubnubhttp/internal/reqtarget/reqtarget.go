// Package reqtarget splits a raw HTTP request target, as the server parses
// it and as Access Manager signs it: the handler and package pam read the
// same path and query from one request.
package reqtarget

import (
	"net/url"
	"strings"
)

// Split splits a request target (origin-form "/p?q" or absolute-form
// "http://host/p?q") into its raw path, which always starts with '/', and
// its raw query.
func Split(target string) (path, rawQuery string) {
	if i := strings.Index(target, "://"); i >= 0 && !strings.HasPrefix(target, "/") {
		rest := target[i+3:]
		if j := strings.IndexAny(rest, "/?"); j >= 0 {
			target = rest[j:]
		} else {
			target = "/"
		}
	}
	path, rawQuery, _ = strings.Cut(target, "?")
	if path == "" || path[0] != '/' {
		path = "/" + path
	}
	return path, rawQuery
}

// Unescape decodes the percent-escapes of s as a path element, and returns
// s as it is when it has none or a malformed one.
func Unescape(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	if v, err := url.PathUnescape(s); err == nil {
		return v
	}
	return s
}
