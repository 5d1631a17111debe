//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package sock

// fionread is FIONREAD, _IOR('f', 127, int) in <sys/filio.h> on every BSD;
// x/sys does not export it for these systems.
const fionread = 0x4004667f
