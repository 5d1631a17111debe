package dispatcher

import (
	"crypto/tls"
	"errors"
	"net"

	"github.com/asyncore-go/asyncore/internal/sock"
	"github.com/asyncore-go/asyncore/loop"
)

// ErrNoSocket is returned by AdoptConn (and ServeListener) for a value that
// gives no access to its socket: it does not implement syscall.Conn.
var ErrNoSocket = errors.New("dispatcher: no socket to adopt")

// Server is a listener that gives every accepted connection a handler of
// its own, made by a constructor: Python's socketserver.TCPServer with a
// request handler class, on the loop. Serve and ServeListener make one; it is
// a Dispatcher, so Close stops accepting and Addr reports the bound address.
//
// A server that needs more control — choosing the handler by the peer's
// address, say — embeds Dispatcher and overrides HandleAccepted instead,
// as Serve's does: make the handler, Init it, Adopt the descriptor, and
// close the descriptor if Adopt fails.
type Server struct {
	Dispatcher
	newConn   func() Handler
	tlsConfig *tls.Config // ServeTLS: each connection is switched to TLS
}

// Serve listens on address ("host:port"; see ListenTCP) in map m
// (loop.DefaultMap if nil) and serves each accepted connection with a new
// handler from newConn. newConn returns a handler that has been Init'ed —
// any type embedding Dispatcher, DispatcherWithSend or chat.AsyncChat, set
// up as it needs (a terminator, limits, timeouts) — and has no socket yet;
// the server adopts the connection into it. newConn may return nil to
// refuse the connection, which is then closed. It runs on the loop, in
// HandleAccepted.
//
//	srv, err := dispatcher.Serve(m, "127.0.0.1:7007", func() dispatcher.Handler {
//		h := &echoHandler{}
//		h.Init(h, m)
//		return h
//	})
func Serve(m *loop.Map, address string, newConn func() Handler) (*Server, error) {
	s := newServer(m, newConn)
	if err := s.ListenTCP(address); err != nil {
		return nil, err
	}
	return s, nil
}

// ServeListener is Serve on a listener made elsewhere (net.Listen, a
// socket handed over by systemd), which it takes over as AdoptConn does:
// ln must not be used afterwards.
func ServeListener(m *loop.Map, ln net.Listener, newConn func() Handler) (*Server, error) {
	s := newServer(m, newConn)
	if err := s.AdoptConn(ln); err != nil {
		return nil, err
	}
	return s, nil
}

func newServer(m *loop.Map, newConn func() Handler) *Server {
	if newConn == nil {
		panic("dispatcher: Serve needs a constructor")
	}
	s := &Server{newConn: newConn}
	s.Init(s, m)
	return s
}

// HandleAccepted makes the connection's handler and gives it the
// descriptor; if the handler cannot take it, the descriptor is closed and
// the failure logged at debug level — it concerns one connection, not the
// server.
func (s *Server) HandleAccepted(fd int, addr net.Addr) {
	h := s.newConn()
	if h == nil {
		_ = sock.Close(fd)
		return
	}
	if h.dispatcher().self == nil {
		_ = sock.Close(fd)
		panic("dispatcher: Serve's constructor returned a handler without calling its Init")
	}
	if err := h.dispatcher().Adopt(fd); err != nil {
		_ = sock.Close(fd)
		s.logger().Debug("dispatcher: could not adopt an accepted connection", "err", err, "peer", addr, "channel", s.String())
		return
	}
	if s.tlsConfig != nil {
		// A shed connection is closed already; the map counts it.
		_ = h.dispatcher().Socket().TLSServer(s.tlsConfig)
	}
}
