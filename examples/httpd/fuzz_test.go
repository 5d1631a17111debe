package main

import (
	"bytes"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/asyncore-go/asyncore/dispatcher"
	"github.com/asyncore-go/asyncore/internal/testutil"
	"github.com/asyncore-go/asyncore/internal/testutil/looptest"
	"github.com/asyncore-go/asyncore/loop"
)

// FuzzHTTPHead feeds arbitrary bytes to the head parser and, as a stream,
// to a connection of the server, whole and in the chunks cuts gives.
//
// The properties:
//   - parseRequest never panics, and returns either a request it fully
//     understood (status 0) or a 400, 414 or 505;
//   - a request's path is cleaned and confined: it starts with "/", has no
//     ".." segment, no NUL, and cleaning it again changes nothing; the file
//     it resolves to, if any, lies under the root;
//   - the same bytes in different chunks get the same replies (Date aside),
//     and the connection is closed once the client has finished sending.
func FuzzHTTPHead(f *testing.F) {
	for _, s := range httpSeeds {
		f.Add([]byte(s.data), []byte(s.cuts))
	}
	h := newHTTPHarness(f)
	f.Fuzz(func(t *testing.T, data, cuts []byte) {
		if len(data) > 8<<10 {
			return // far below maxHead: the 431 path depends on no chunking
		}
		checkHead(t, h.srv, data)
		fds := testutil.OpenFDs()
		whole := h.stream(t, data, nil)
		chunked := h.stream(t, data, cuts)
		if n := testutil.OpenFDs(); n != fds {
			t.Fatalf("%d descriptors open before the connections, %d after", fds, n)
		}
		if !bytes.Equal(whole, chunked) {
			t.Fatalf("replies depend on the chunking %v:\nwhole:   %q\nchunked: %q", cuts, whole, chunked)
		}
	})
}

// httpSeeds are requests that reach each branch of the parser and the
// connection; the files under testdata/fuzz/FuzzHTTPHead hold the same.
var httpSeeds = []struct{ data, cuts string }{
	{"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "\x01\x02\x03"},
	{"GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD /sub/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "\x10"},
	{"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhelloGET /%2e%2e/secret HTTP/1.1\r\nHost: x\r\n\r\n", "\x05\x00\x07"},
	{"\r\n\r\nGET /../out HTTP/1.1\r\nHost: x\r\n\r\nGET /out HTTP/1.1\r\nHost: x\r\n\r\n", "\x02\x02\x02"},
	{"GET http://h/sub/b.txt?q=1 HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: Mon, 06 May 2024 07:08:09 GMT\r\n\r\n", "\x03\x30"},
	{"GET / HTTP/2.0\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "\x01"},
	{"PUT /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "\x04\x04"},
	{"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "\x20"},
	{"GET /a%00b HTTP/1.1\r\nHost: x\r\n Folded: y\r\n\r\n", "\x01\x01\x01\x01"},
	{"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n", ""},
}

// httpHarness is a server with a small document root, with no listener: its
// connections are socketpairs the fuzz function writes to.
type httpHarness struct {
	l   *loop.Loop
	m   *loop.Map
	srv *server
}

func newHTTPHarness(f *testing.F) *httpHarness {
	dir := f.TempDir()
	root := filepath.Join(dir, "root")
	for name, data := range map[string]string{
		"index.html": "<h1>home</h1>\n",
		"a.txt":      "a file\n",
		"sub/b.txt":  "b file\n",
		"../secret":  "outside the root\n",
	} {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			f.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			f.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "secret"), filepath.Join(root, "out")); err != nil {
		f.Fatal(err)
	}
	real, err := resolveRoot(root)
	if err != nil {
		f.Fatal(err)
	}
	m := loop.NewMap()
	l, err := loop.New(loop.Options{Map: m})
	if err != nil {
		f.Fatal(err)
	}
	srv, err := newServer(real, options{cache: cacheOptions{TTL: -1}})
	if err != nil {
		f.Fatal(err)
	}
	srv.Init(srv, m)
	f.Cleanup(func() {
		_ = dispatcher.CloseAll(m, true)
		_ = l.Close()
		_ = unix.Close(srv.rootFD)
	})
	return &httpHarness{l: l, m: m, srv: srv}
}

// checkHead checks parseRequest's result for data as a head, and
// targetPath's for data as a target.
func checkHead(t *testing.T, srv *server, data []byte) {
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	req, status := parseRequest(head)
	switch status {
	case 0:
		if req.method == "" {
			rest := head
			for bytes.HasPrefix(rest, []byte("\r\n")) {
				rest = rest[2:]
			}
			if len(rest) != 0 {
				t.Fatalf("no request and no error for %q", head)
			}
			return
		}
		if !isToken([]byte(req.method)) || req.minor > 1 || req.contentLength < 0 {
			t.Fatalf("accepted a malformed request %+v from %q", req, head)
		}
		checkPath(t, srv, string(req.target), string(req.path))
	case http.StatusBadRequest, http.StatusRequestURITooLong, http.StatusHTTPVersionNotSupported:
	default:
		t.Fatalf("status %d for %q", status, head)
	}
	p, ok := targetPath(string(data))
	if ok {
		checkPath(t, srv, string(data), p)
	}
	// The fast path for clean targets agrees with targetPath.
	if pb, okb := targetPathBytes(data); okb != ok || string(pb) != p {
		t.Fatalf("target %q: targetPathBytes gives %q, %v; targetPath %q, %v", data, pb, okb, p, ok)
	}
}

// checkPath checks that p, the path of target, is confined to the root.
func checkPath(t *testing.T, srv *server, target, p string) {
	if !strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
		t.Fatalf("target %q: path %q", target, p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			t.Fatalf("target %q: path %q has a .. segment", target, p)
		}
	}
	if clean := path.Clean(p); clean != strings.TrimSuffix(p, "/") && clean != p {
		t.Fatalf("target %q: path %q is not clean (%q)", target, p, clean)
	}
	if f, name, _, status := srv.resolve(p); status == 0 {
		_ = f.Close()
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			t.Fatalf("target %q resolves to %q, outside the root %q", target, name, srv.root)
		}
	}
}

// dateField is the Date header, the one part of a reply that depends on
// when it was made.
var dateField = regexp.MustCompile(`\r\nDate: [^\r]*`)

// stream sends data to a new connection in the chunks cuts gives (each
// byte the length of the next chunk; the rest of data goes last), runs the
// loop after every chunk, then half-closes and collects every reply until
// the server closes. The server must close, and leave nothing in the map.
func (h *httpHarness) stream(t *testing.T, data, cuts []byte) []byte {
	out := looptest.Converse(t, h.l, func(fd int) { h.srv.HandleAccepted(fd, nil) }, data, cuts)
	return dateField.ReplaceAll(out, nil)
}
