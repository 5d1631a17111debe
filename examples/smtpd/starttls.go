package main

import "log/slog"

// startTLS handles STARTTLS (RFC 3207). Without a certificate the command
// does not exist, as before; on a session already under TLS it is a
// command out of sequence.
func (s *session) startTLS(arg string) {
	switch {
	case s.srv.tls == nil:
		s.reply("502 Error: STARTTLS not implemented")
		return
	case s.tls:
		s.reply("503 5.5.1 Error: TLS already active")
		return
	case arg != "":
		s.reply("501 Syntax: STARTTLS")
		return
	}
	// RFC 3207 §4.2: after the handshake the client starts over. Nothing
	// it said in the clear counts: not its EHLO, not a transaction.
	s.reset()
	s.helo, s.esmtp = "", false
	s.reply("220 2.0.0 Ready to start TLS")
	// The chat switches to TLS once the 220 is written, and drops what it
	// has read and not yet framed. Commands pipelined after STARTTLS came
	// in the clear, where anyone on the path could have added them
	// (CVE-2011-0411): they are not run, not even those held during a
	// commit (see replay), and the client sends them again under TLS.
	if err := s.StartTLS(s.srv.tls); err != nil {
		slog.Debug("cannot start TLS", "peer", s.peer, "err", err) // the peer's doing: see tlsflags.Start
		_ = s.Close()
		return
	}
	s.tls = true
	s.held = nil
}
