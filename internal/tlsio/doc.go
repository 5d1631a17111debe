// Package tlsio runs crypto/tls on the event loop without a goroutine per
// connection: one *tls.Conn per connection sits on a transport (a
// net.Conn) that this package controls.
//
// The handshake runs on a goroutine of its own, because tls.Conn keeps the
// handshake's state on the goroutine's stack and makes any failure of a
// handshake step final. Meanwhile the loop owns the descriptor: it reads
// ciphertext and hands it to the transport (Feed), where the handshake's
// blocked Read picks it up, and it writes what the handshake wrote to the
// transport (Flush). The goroutine tells the loop through a posted function
// (the notify function given to New), coalesced.
//
// After the handshake the loop drives tls.Conn itself: the transport's Read
// reads the socket, and returns a net.Error whose Temporary reports true
// when the socket has nothing (EAGAIN) — crypto/tls returns such an error
// without making it sticky and keeps a partial record buffered — and its
// Write appends records to an output buffer the loop flushes.
//
// A Conn belongs to the loop's goroutine, except for what the handshake
// goroutine does through the transport, which is locked while the
// handshake runs. After a successful handshake (GoDirect) the loop owns the
// transport alone and no longer locks it: see the transport's owned field
// for why that is safe.
package tlsio
