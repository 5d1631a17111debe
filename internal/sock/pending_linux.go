package sock

import "golang.org/x/sys/unix"

// fionread is FIONREAD, which x/sys names TIOCINQ on Linux.
const fionread = unix.TIOCINQ
