//go:build !linux

package main

import "net"

// peerWindowClosed needs Linux's TCP_INFO; elsewhere ok is false.
func peerWindowClosed(*net.TCPConn) (closed, ok bool, err error) { return false, false, nil }
