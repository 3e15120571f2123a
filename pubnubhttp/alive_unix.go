//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

// alive_unix.go tells whether the client of a parked long-poll is still
// connected, by peeking at its socket without waiting.

package pubnubhttp

import (
	"errors"
	"net"
	"syscall"
)

// connAlive reports whether c's peer has not closed it: a read that does
// not wait finds no end of stream and no error but "try again". Bytes the
// client sent (a pipelined request) stay in the socket. A connection
// without a file descriptor is taken as alive.
func connAlive(c net.Conn) bool {
	if pc, ok := c.(*parkConn); ok {
		c = pc.Conn
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		case err != nil, n == 0:
			alive = false
		}
		return true // never wait for the socket to be readable
	})
	return alive && err == nil
}
