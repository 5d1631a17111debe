//go:build !linux

package testutil

// GatherAllocates reports whether Dispatcher.Socket().SendBuffers allocates per call
// on this system: yes where it goes through x/sys's SendmsgBuffers.
const GatherAllocates = true
