package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/producer"
)

// maxSymlinks bounds the symbolic links one lookup follows, as the kernel's
// own limit (40 on Linux) does: a link loop is a 404, not a hang.
const maxSymlinks = 40

// errOutside is openBeneath's error for a name that leads out of the root.
var errOutside = errors.New("symbolic link leaves the root")

// resolve maps a URL path — already decoded, cleaned and free of ".."
// (targetPath) — to a regular file under the root, opened, and returns the
// open file, its name relative to the root with symbolic links resolved,
// its FileInfo from fstat, and status 0. A directory stands for its
// index.html, when named with a trailing slash; without one the status is
// 301, for a redirect to the name with the slash (so that relative links in
// the index resolve inside the directory). A path ending in "/" must be a
// directory. The status is 404 when there is no such file, when the name is
// not a regular file, and when a symbolic link leads out of the root.
//
// The file is opened once, here, and its reply is read from that
// descriptor however much later the output queue reaches it: what was
// checked is what is sent, even if the name is replaced meanwhile by a
// symbolic link to a file outside the root or by a FIFO. Opening never
// blocks (see openBeneath), so a FIFO or a device put in the root costs a
// 404, not a loop stuck until something writes to it.
func (s *server) resolve(urlPath string) (f *os.File, name string, info fs.FileInfo, status int) {
	f, name, err := s.openBeneath(urlPath)
	if err == nil {
		info, err = f.Stat()
	}
	if err == nil && info.IsDir() {
		_ = f.Close()
		if !strings.HasSuffix(urlPath, "/") {
			return nil, "", nil, http.StatusMovedPermanently
		}
		f, name, err = s.openBeneath(urlPath + "index.html")
		if err == nil {
			info, err = f.Stat()
		}
	} else if err == nil && strings.HasSuffix(urlPath, "/") {
		err = syscall.ENOTDIR // "/file.txt/": a file is not a directory
	}
	if err == nil && !info.Mode().IsRegular() {
		err = producer.ErrNotRegular
	}
	if err != nil {
		if f != nil {
			_ = f.Close()
		}
		if errors.Is(err, errOutside) || errors.Is(err, producer.ErrNotRegular) {
			slog.Debug("refused", "path", urlPath, "err", err)
		}
		return nil, "", nil, http.StatusNotFound
	}
	return f, name, info, 0
}

// openBeneath opens the file that rel, a slash-separated path, names under
// the root, and returns it with its name relative to the root, symbolic
// links resolved.
//
// It walks the path itself, one component at a time, each opened relative
// to the directory before it with O_NOFOLLOW: the kernel never follows a
// symbolic link on its own, so none can take the walk out of the root,
// even one swapped in while the walk runs. A link is read (readlinkat) and
// its target walked the same way: a relative target from the link's
// directory, with ".." going up no further than the root, and an absolute
// one only if it names a place under the root (the root is itself resolved
// at start-up). So links within the root keep working, as they did when
// this used filepath.EvalSymlinks, but the name checked and the file opened
// can no longer differ. The last component is opened with O_NONBLOCK (a
// FIFO opens at once instead of waiting for a writer; for a regular file
// the flag changes nothing), and O_NOCTTY. The caller fstats the result.
func (s *server) openBeneath(rel string) (*os.File, string, error) {
	todo := splitPath(rel)
	var dirs []int     // the directories walked into, innermost last
	var names []string // their names, for the resolved name
	defer func() {
		for _, d := range dirs {
			_ = unix.Close(d)
		}
	}()
	cur := func() int {
		if len(dirs) == 0 {
			return s.rootFD
		}
		return dirs[len(dirs)-1]
	}
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(dirs) == 0 {
				return nil, "", errOutside
			}
			_ = unix.Close(dirs[len(dirs)-1])
			dirs, names = dirs[:len(dirs)-1], names[:len(names)-1]
			continue
		}
		flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC | unix.O_NONBLOCK | unix.O_NOCTTY
		if len(todo) > 0 {
			flags |= unix.O_DIRECTORY
		}
		fd, err := openat(cur(), c, flags)
		if err != nil {
			if err == unix.ENOENT {
				return nil, "", err
			}
			// O_NOFOLLOW fails on a symbolic link (ELOOP on Linux and
			// macOS, EMLINK on FreeBSD): read it, and walk its target.
			target, lerr := readlinkat(cur(), c)
			if lerr != nil {
				return nil, "", err
			}
			if links++; links > maxSymlinks {
				return nil, "", unix.ELOOP
			}
			if path.IsAbs(target) {
				r, ok := strings.CutPrefix(target, s.root)
				if !ok || r != "" && r[0] != '/' {
					return nil, "", fmt.Errorf("%s -> %s: %w", c, target, errOutside)
				}
				for _, d := range dirs {
					_ = unix.Close(d)
				}
				dirs, names = dirs[:0], names[:0]
				target = r
			}
			todo = append(splitPath(target), todo...)
			continue
		}
		if len(todo) == 0 {
			return os.NewFile(uintptr(fd), c), path.Join(append(names, c)...), nil
		}
		dirs, names = append(dirs, fd), append(names, c)
	}
	// The path named a directory (the root, or one reached by ".."):
	// open it for the caller to see that it is one.
	fd, err := openat(cur(), ".", unix.O_RDONLY|unix.O_CLOEXEC|unix.O_DIRECTORY)
	if err != nil {
		return nil, "", err
	}
	return os.NewFile(uintptr(fd), "."), path.Join(names...), nil
}

// splitPath splits a slash-separated path into its non-empty components.
func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}

// openat is unix.Openat, retried on EINTR.
func openat(dir int, name string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// readlinkat returns the target of the symbolic link name in dir.
func readlinkat(dir int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := readlinkatSys(dir, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// contentType guesses a file's media type from its extension, with the
// system's MIME tables (mime.TypeByExtension), and falls back to
// application/octet-stream: "some bytes", which a browser will offer to save.
func contentType(name string) string {
	if t := mime.TypeByExtension(filepath.Ext(name)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// fileHead is what a reply head says of a file, formatted.
type fileHead struct {
	contentType  string
	length       string    // Content-Length
	modified     time.Time // the modification time in UTC, truncated to the second
	lastModified string    // modified as an HTTP date
}

// newFileHead describes the file name, whose FileInfo is info. HTTP dates
// have one-second precision, so the modification time is compared, and
// sent, truncated to the second.
func newFileHead(name string, info fs.FileInfo) fileHead {
	mtime := info.ModTime().UTC().Truncate(time.Second)
	return fileHead{
		contentType:  contentType(name),
		length:       strconv.FormatInt(info.Size(), 10),
		modified:     mtime,
		lastModified: mtime.Format(http.TimeFormat),
	}
}

// maxHeldFiles bounds the queued file bodies of one connection that keep
// the descriptor resolve opened. A client may pipeline thousands of GETs
// before the output queue's high-water mark stops the reading; one open
// file each would exhaust the process's descriptors. Past the bound, a body
// closes its descriptor and opens the file again, the same safe way, when
// the queue reaches it (see fileBody).
const maxHeldFiles = 8

// fileBody is the body of a GET reply: a producer that streams a file
// through producer.FileProducerFrom, one 64 KiB buffer at a time, as the
// socket takes it. The chat calls More when the previous chunk has been
// written, so however large the file, one buffer of it is in memory.
//
// It reads from the descriptor resolve opened when the request arrived, so
// the file sent is the file checked. While its connection holds
// maxHeldFiles of them already it closes it instead, keeping the file's
// device and inode numbers, and opens the name again when the output queue
// reaches it; a file that is then no longer the same regular file ends the
// connection (see abort). And it sends exactly the size announced in
// Content-Length, whatever happens to the file meanwhile: the extra bytes
// of a file that grew are not sent (they would be read as the start of the
// next reply), and a file that shrank ends the connection.
type fileBody struct {
	c        *conn
	f        *os.File         // from resolve; nil once reading or if closed to bound c.held
	held     bool             // f counts in c.held
	name     string           // relative to the root, to open again
	dev, ino uint64           // what f was, to recognise it when opened again
	left     int64            // bytes still owed to the client
	r        *producer.Reader // nil until the first More
}

// newFileBody takes f, opened by resolve as name with FileInfo info.
func newFileBody(c *conn, f *os.File, name string, info fs.FileInfo) *fileBody {
	b := &fileBody{c: c, f: f, name: name, left: info.Size()}
	b.dev, b.ino = fileID(info)
	if c.held < maxHeldFiles {
		c.held++
		b.held = true
	} else {
		_ = f.Close()
		b.f = nil
	}
	return b
}

// fileID returns a file's device and inode numbers.
func fileID(info fs.FileInfo) (dev, ino uint64) {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), uint64(st.Ino)
	}
	return 0, 0
}

// reopen opens the body's file again, for a body that let its descriptor
// go, and checks that it is still the regular file its head described.
func (b *fileBody) reopen() (*os.File, error) {
	f, _, err := b.c.srv.openBeneath(b.name)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = producer.ErrNotRegular
	}
	if err == nil {
		if dev, ino := fileID(info); dev != b.dev || ino != b.ino {
			err = errors.New("replaced by another file")
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return f, nil
}

// More returns the next chunk of the file, or nil when the announced size
// has been sent.
func (b *fileBody) More() []byte {
	if b.left <= 0 {
		_ = b.Close()
		return nil
	}
	if b.r == nil {
		f := b.f
		if f == nil {
			var err error
			if f, err = b.reopen(); err != nil {
				b.abort(err)
				return nil
			}
		}
		b.f = nil
		r, err := producer.FileProducerFrom(f, 0)
		if err != nil {
			_ = f.Close()
			b.abort(err)
			return nil
		}
		b.r = r
	}
	chunk := b.r.More()
	if len(chunk) == 0 {
		err := b.r.Err()
		if err == nil {
			err = errors.New("file shrank")
		}
		b.abort(err)
		return nil
	}
	if int64(len(chunk)) > b.left {
		chunk = chunk[:b.left]
	}
	b.left -= int64(len(chunk))
	return chunk
}

// abort handles a file that cannot supply the bytes its reply head
// promised. The connection must end: the client has to see a short body,
// not the next reply's bytes taken for the rest of this one. Closing the
// chat here is not possible (More runs while the chat is gathering its
// queue), so abort shuts down the socket's sending side instead: the client
// sees the end of the stream at once, and the chat's next send fails with
// EPIPE, which closes the connection.
func (b *fileBody) abort(err error) {
	slog.Warn("cannot send the rest of a file; closing the connection",
		"file", b.name, "missing", b.left, "err", err)
	b.left = 0
	_ = b.Close()
	if fd := b.c.Fd(); fd >= 0 {
		if err := unix.Shutdown(fd, unix.SHUT_WR); err != nil {
			slog.Warn("shutdown failed", "peer", b.c.Addr(), "err", err)
		}
	}
}

// Close releases the file. The chat's output queue calls it for a body it
// drops unsent, when the connection closes early.
func (b *fileBody) Close() error {
	b.left = 0
	if b.held {
		b.held = false
		b.c.held--
	}
	var err error
	if b.f != nil {
		err = b.f.Close()
		b.f = nil
	}
	if b.r != nil {
		err = errors.Join(err, b.r.Close())
	}
	return err
}
