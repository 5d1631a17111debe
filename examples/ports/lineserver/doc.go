// Package lineserver is a tested port of line_server.py, in this folder:
// the asynchat line server that Python tutorials teach. A producer greets
// each client, every line comes back in upper case, and "quit" says goodbye
// and closes once the goodbye has been sent. See the package Example.
//
// The one line that cannot be literal is collect_incoming_data's
// self.buf.append(data): in Go the data passed to CollectIncomingData points
// into a read buffer that the next read reuses, so the port appends a copy.
package lineserver
