package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// maildir delivers messages into a Maildir (https://cr.yp.to/proto/maildir.html):
// each message is written under tmp/ and then renamed into new/, so a reader
// of new/ never sees a partial file, and a crash leaves at most a stray file
// in tmp/.
//
// The writes are blocking system calls made on the loop goroutine: while a
// message is written and synced, every other connection waits. For a sink
// writing one local file per message that is acceptable. A server that
// delivers somewhere slow would hand the message to another goroutine and
// send the reply from a function given to Loop.Post.
type maildir struct {
	dir  string
	host string // the host part of file names, with '/' and ':' escaped
	seq  int    // deliveries so far by this process
}

// openMaildir creates dir and its tmp/, new/ and cur/ subdirectories if
// they are missing.
func openMaildir(dir, hostname string) (*maildir, error) {
	for _, sub := range []string{"tmp", "new", "cur"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, err
		}
	}
	// The Maildir specification escapes these two, which would otherwise
	// be a path separator and the separator of the info suffix in cur/.
	host := strings.NewReplacer("/", `\057`, ":", `\072`).Replace(hostname)
	return &maildir{dir: dir, host: host}, nil
}

// uniqueName returns a file name no other delivery uses: the time, the
// microseconds, the process ID and a delivery counter, then the host name,
// in the form Maildir readers expect ("1700000000.M123456P4242Q7.host").
// The counter is enough within the process, since only the loop goroutine
// delivers; the time and PID tell this process from others.
func (m *maildir) uniqueName() string {
	m.seq++
	now := time.Now()
	return fmt.Sprintf("%d.M%06dP%dQ%d.%s", now.Unix(), now.Nanosecond()/1000, os.Getpid(), m.seq, m.host)
}

// deliver writes parts, one after the other, as the message called name:
// into tmp/, synced to disk, then renamed into new/. On error nothing is
// left in new/ and the file in tmp/ is removed.
func (m *maildir) deliver(name string, parts ...[]byte) error {
	tmp := filepath.Join(m.dir, "tmp", name)
	// O_EXCL: never write into a file that something else created.
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if _, err = f.Write(p); err != nil {
			break
		}
	}
	if err == nil {
		err = f.Sync() // the reply says the message is safe: make it so
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(m.dir, "new", name))
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
