// Command nethttp is the Go net/http reference for the HTTP real-client
// cells. It runs in one of two modes:
//
//   - -mode memory (the default, and the reference the HTTP target is
//     measured against): net/http at its best. The regular files directly
//     under -root are read once at start-up, and a handler writes their
//     bytes from memory with the header fields examples/httpd sends for a
//     cached file — Server, Content-Type, Content-Length and Last-Modified
//     (net/http adds Date itself) — so that both servers put the same reply on the
//     wire and do the same work per request: parse a head, look a path up,
//     write a head and a body. "/" and "/dir/" serve index.html.
//   - -mode fileserver: http.FileServer over -root, which opens, stats,
//     reads and closes the file on every request. It is kept as a second,
//     labelled reference: what a net/http user gets without a cache.
//
// Both keep connections alive and handle pipelined requests net/http's own
// way (read ahead, answered in order).
//
// With -tls-cert and -tls-key it serves HTTPS (crypto/tls's defaults with
// that certificate), the reference of the TLS cells.
//
// It prints "ready ADDR" on stdout once it accepts connections; the harness
// stops it with SIGTERM.
package main

import (
	"flag"
	"fmt"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	root := flag.String("root", ".", "directory to serve")
	mode := flag.String("mode", "memory", "memory: the files under -root, read once, served from memory; fileserver: http.FileServer")
	certFile := flag.String("tls-cert", "", "serve HTTPS with this PEM certificate (chain) file (and -tls-key)")
	keyFile := flag.String("tls-key", "", "PEM private key file for -tls-cert")
	flag.Parse()
	var h http.Handler
	switch *mode {
	case "memory":
		m, err := loadFiles(*root)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		h = m
	case "fileserver":
		h = http.FileServer(http.Dir(*root))
	default:
		fmt.Fprintf(os.Stderr, "unknown -mode %q (memory or fileserver)\n", *mode)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ready %s\n", ln.Addr())
	srv := &http.Server{Handler: h}
	if *certFile != "" || *keyFile != "" {
		err = srv.ServeTLS(ln, *certFile, *keyFile)
	} else {
		err = srv.Serve(ln)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// memFile is one file held in memory with its header values, built once so
// that a request allocates nothing of its own: the []string values are
// assigned to the header map as they are, without canonicalising the names
// again (they are written in canonical form).
type memFile struct {
	body                              []byte
	contentType, length, lastModified []string
}

// memFiles serves files from memory by URL path.
type memFiles map[string]*memFile

// loadFiles reads the regular files directly under root. index.html is
// also served as "/".
func loadFiles(root string) (memFiles, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	m := memFiles{}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		name := filepath.Join(root, e.Name())
		body, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		info, err := os.Stat(name)
		if err != nil {
			return nil, err
		}
		ctype := mime.TypeByExtension(filepath.Ext(name))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		f := &memFile{
			body:         body,
			contentType:  []string{ctype},
			length:       []string{strconv.Itoa(len(body))},
			lastModified: []string{info.ModTime().UTC().Truncate(time.Second).Format(http.TimeFormat)},
		}
		m["/"+e.Name()] = f
		if e.Name() == "index.html" {
			m["/"] = f
		}
	}
	return m, nil
}

// serverName is the Server field; examples/httpd sends one too, so the
// replies are of a size.
var serverName = []string{"net/http"}

// ServeHTTP answers GET and HEAD of a loaded file (net/http drops the body
// of a HEAD reply), 404 for other paths and 405 for other methods.
func (m memFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := m[r.URL.Path]
	if f == nil {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header()["Allow"] = []string{"GET, HEAD"}
		http.Error(w, "405 Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h["Server"] = serverName
	h["Content-Type"] = f.contentType
	h["Content-Length"] = f.length
	h["Last-Modified"] = f.lastModified
	_, _ = w.Write(f.body)
}
