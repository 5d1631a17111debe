package dispatcher

import (
	"os"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/loop"
	"golang.org/x/sys/unix"
)

// FileDispatcher is asyncore's file_dispatcher: a Dispatcher over a pipe, a
// terminal or a file instead of a socket. Recv and Send use read(2) and
// write(2), and SO_ERROR reads as 0. Embed it and call InitFile.
type FileDispatcher struct {
	Dispatcher
}

// InitFile prepares f to serve self over a duplicate of fd in map m
// (DefaultMap if nil): asyncore's file_dispatcher(fd, map). The caller keeps
// fd and may close it; the dispatcher owns the duplicate. As in asyncore, fd
// is made non-blocking, and because the duplicate shares its open file
// description, so is every other descriptor for it — including a terminal
// shared with the parent shell when fd is standard input.
func (f *FileDispatcher) InitFile(self Handler, fd int, m *loop.Map) error {
	f.Init(self, m)
	return f.AdoptFile(fd)
}

// AdoptFile gives an Init'ed FileDispatcher without a descriptor a
// duplicate of the file descriptor fd, marked connected: InitFile's second
// half, for a FileDispatcher that closed its last file and serves another.
func (f *FileDispatcher) AdoptFile(fd int) error {
	d := &f.Dispatcher
	d.mustInit()
	if d.fd >= 0 {
		return ErrHasSocket
	}
	dup, err := sock.DupCloexec(fd)
	if err != nil {
		return err
	}
	if err := sock.SetNonblock(fd); err != nil {
		_ = sock.Close(dup)
		return os.NewSyscallError("fcntl", err)
	}
	d.isFile = true
	d.family, d.sotype = unix.AF_UNSPEC, 0
	if err := d.setSocket(dup); err != nil {
		_ = sock.Close(dup)
		return err
	}
	d.connected = true
	return nil
}
