//go:build !linux

package conformance

import "syscall"

// childAttr: outside Linux the children are killed by the tests' cleanup
// only.
func childAttr() *syscall.SysProcAttr { return nil }
