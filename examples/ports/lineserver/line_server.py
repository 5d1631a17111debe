"""An asynchat line server, as Python tutorials teach it.

Each client is greeted by a producer, every line it sends comes back in
upper case, and "quit" says goodbye and closes once the goodbye is sent.
Its Go port is the Example in example_test.go, in this folder.

Run: python3 -W ignore line_server.py   (then: nc 127.0.0.1 7010)
"""
import asynchat
import asyncore
import socket
import sys


class LineHandler(asynchat.async_chat):
    def __init__(self, sock, map=None):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")
        self.buf = []
        self.push_with_producer(asynchat.simple_producer(b"welcome\n"))

    def collect_incoming_data(self, data):
        self.buf.append(data)

    def found_terminator(self):
        line = b"".join(self.buf).strip()
        self.buf = []
        if line == b"quit":
            self.push(b"bye\n")
            self.close_when_done()
        else:
            self.push(line.upper() + b"\n")


class LineServer(asyncore.dispatcher):
    def __init__(self, addr, map=None):
        asyncore.dispatcher.__init__(self, map=map)
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(addr)
        self.listen(5)

    def handle_accepted(self, sock, addr):
        LineHandler(sock, map=self._map)


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 7010
    LineServer(("127.0.0.1", port))
    asyncore.loop()
