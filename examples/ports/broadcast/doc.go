// Package broadcast is a tested port of broadcast.py, in this folder: the
// select.poll tutorial's server — a periodic broadcast and an idle kick —
// written the asyncore way, with its two clients in the same map. See the
// package Example.
//
// It is a literal port. Nothing calls UpdateInterest: the ticks change what
// Writable reads between passes of the driving loop, and loop.Run asks every
// predicate on every pass, as asyncore.loop does.
package broadcast
