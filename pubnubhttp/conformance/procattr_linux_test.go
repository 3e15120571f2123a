package conformance

import "syscall"

// childAttr makes a child process die with the test process, so a test
// binary killed midway leaves no server behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
