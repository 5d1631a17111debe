package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// maildir delivers messages into a Maildir (https://cr.yp.to/proto/maildir.html):
// each message is written under tmp/ as it arrives and, once complete and
// synced to disk, renamed into new/, so a reader of new/ never sees a
// partial file, and a crash leaves at most a stray file in tmp/.
//
// The directories are opened once, and files are made and renamed relative
// to those descriptors: a tmp/ or new/ swapped for a symbolic link while the
// server runs is not followed.
type maildir struct {
	dir    string
	host   string // the host part of file names, with '/' and ':' escaped
	seq    int    // file names made so far by this process
	tmpDir int    // tmp/, open
	newDir int    // new/, open
	// sync flushes a message's file to disk: (*os.File).Sync, or a test's
	// stand-in.
	sync func(*os.File) error
}

// openMaildir creates dir and its tmp/, new/ and cur/ subdirectories if
// they are missing, and opens tmp/ and new/. Call close when done.
func openMaildir(dir, hostname string) (*maildir, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	// The Maildir specification escapes these two, which would otherwise
	// be a path separator and the separator of the info suffix in cur/.
	host := strings.NewReplacer("/", `\057`, ":", `\072`).Replace(hostname)
	m := &maildir{dir: dir, host: host, tmpDir: -1, newDir: -1, sync: (*os.File).Sync}
	var err error
	if m.tmpDir, err = openDir(filepath.Join(dir, "tmp")); err != nil {
		return nil, err
	}
	if m.newDir, err = openDir(filepath.Join(dir, "new")); err != nil {
		m.close()
		return nil, err
	}
	return m, nil
}

// openDir opens a directory for the *at system calls, not following a
// symbolic link in its last component.
func openDir(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// close releases the directory descriptors.
func (m *maildir) close() {
	for _, fd := range []*int{&m.tmpDir, &m.newDir} {
		if *fd >= 0 {
			_ = unix.Close(*fd)
			*fd = -1
		}
	}
}

// uniqueName returns a file name no other delivery uses: the time, the
// microseconds, the process ID and a counter, then the host name, in the
// form Maildir readers expect ("1700000000.M123456P4242Q7.host"). The
// counter is enough within the process, since only the loop goroutine makes
// names; the time and PID tell this process from others.
func (m *maildir) uniqueName() string {
	m.seq++
	now := time.Now()
	return fmt.Sprintf("%d.M%06dP%dQ%d.%s", now.Unix(), now.Nanosecond()/1000, os.Getpid(), m.seq, m.host)
}

// messageChunk is the most a message holds in memory before it is written
// to its file: the bound on a session's memory in DATA, whatever the size
// of the message.
const messageChunk = 32 << 10

// chunks recycles the buffers of messages: a session holds one only while
// data waits to be written, which is never longer than one read unless the
// chat postponed part of that read.
var chunks = sync.Pool{New: func() any { b := make([]byte, 0, messageChunk); return &b }}

// message is a message being received: a new file in tmp/ and the bytes
// not yet written to it. Its writes are ordinary blocking writes made on
// the loop goroutine; they go to the page cache and are short. The sync to
// disk, which is not, is left to commit.
type message struct {
	box  *maildir
	name string
	f    *os.File
	buf  *[]byte // nil while nothing waits to be written
	err  error   // the first write error; the message can only be aborted
}

// create starts the message called name: a file in tmp/ that must not
// exist (O_EXCL: never write into a file something else made, nor through a
// link planted there), readable by the owner only.
func (m *maildir) create(name string) (*message, error) {
	var fd int
	var err error
	for {
		fd, err = unix.Openat(m.tmpDir, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: filepath.Join(m.dir, "tmp", name), Err: err}
	}
	return &message{box: m, name: name, f: os.NewFile(uintptr(fd), filepath.Join(m.dir, "tmp", name))}, nil
}

// write adds p to the message. Bytes are gathered up to messageChunk and
// then written; a write error is kept, and makes the message fail at its
// end.
func (w *message) write(p []byte) {
	if w.err != nil || len(p) == 0 {
		return
	}
	if w.buf == nil {
		w.buf = chunks.Get().(*[]byte)
	}
	if len(*w.buf)+len(p) > messageChunk {
		if w.flush(); w.err != nil {
			return
		}
		if len(p) >= messageChunk {
			_, w.err = w.f.Write(p)
			return
		}
		w.buf = chunks.Get().(*[]byte)
	}
	*w.buf = append(*w.buf, p...)
}

// flush writes what waits in memory and gives the buffer back.
func (w *message) flush() {
	if w.buf == nil {
		return
	}
	if w.err == nil && len(*w.buf) > 0 {
		_, w.err = w.f.Write(*w.buf)
	}
	*w.buf = (*w.buf)[:0]
	chunks.Put(w.buf)
	w.buf = nil
}

// buffered is how many bytes of the message are in memory.
func (w *message) buffered() int {
	if w.buf == nil {
		return 0
	}
	return len(*w.buf)
}

// abort drops the message: its file is closed and removed.
func (w *message) abort() {
	if w.buf != nil {
		*w.buf = (*w.buf)[:0]
		chunks.Put(w.buf)
		w.buf = nil
	}
	_ = w.f.Close()
	_ = unix.Unlinkat(w.box.tmpDir, w.name, 0)
}

// commit makes the message durable and visible: it writes what is left,
// syncs the file (the 250 reply says the message is safe: make it so),
// renames it into new/ and syncs new/, so that the rename survives a crash
// too. On error nothing is left in new/ and the file in tmp/ is removed.
func (w *message) commit() error {
	w.flush()
	err := w.err
	if err == nil {
		err = w.box.sync(w.f)
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = renameat(w.box.tmpDir, w.name, w.box.newDir, w.name)
	}
	if err != nil {
		_ = unix.Unlinkat(w.box.tmpDir, w.name, 0)
		return err
	}
	return syncDir(w.box.newDir)
}

// renameat is unix.Renameat retried on EINTR, with the error wrapped.
func renameat(olddir int, oldname string, newdir int, newname string) error {
	for {
		err := unix.Renameat(olddir, oldname, newdir, newname)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &os.LinkError{Op: "rename", Old: "tmp/" + oldname, New: "new/" + newname, Err: err}
		}
		return nil
	}
}

// syncDir flushes a directory's entries to disk. Some file systems cannot
// sync a directory (EINVAL); their renames are as durable as they get.
func syncDir(fd int) error {
	for {
		err := unix.Fsync(fd)
		switch {
		case err == unix.EINTR:
			continue
		case err == nil || errors.Is(err, unix.EINVAL):
			return nil
		}
		return os.NewSyscallError("fsync new/", err)
	}
}
