"""Python asyncore/asynchat reference servers for the benchmark harness.

    python3 -W ignore echo_asyncore.py PORT [echo|line]

echo: asyncore.dispatcher_with_send sending back whatever arrives.
line: asynchat.async_chat with terminator b"\\n", each line answered by its
own push. Prints "ready 127.0.0.1:PORT" once listening; stop with SIGTERM.
"""
import asynchat
import asyncore
import signal
import socket
import sys


class EchoHandler(asyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(16384)
        if data:
            self.send(data)


class LineHandler(asynchat.async_chat):
    def __init__(self, sock, map):
        asynchat.async_chat.__init__(self, sock, map=map)
        self.set_terminator(b"\n")
        self.buf = []

    def collect_incoming_data(self, data):
        self.buf.append(data)

    def found_terminator(self):
        line = b"".join(self.buf)
        self.buf = []
        self.push(line + b"\n")


class Server(asyncore.dispatcher):
    def __init__(self, port, handler, map):
        asyncore.dispatcher.__init__(self, map=map)
        self.handler = handler
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", port))
        self.listen(1024)

    def handle_accepted(self, sock, addr):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.handler(sock, self._map)


def main():
    port = int(sys.argv[1])
    mode = sys.argv[2] if len(sys.argv) > 2 else "echo"
    handler = LineHandler if mode == "line" else EchoHandler
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    m = {}
    Server(port, lambda s, mp: handler(s, mp), m)
    print("ready 127.0.0.1:%d" % port, flush=True)
    asyncore.loop(timeout=30, use_poll=True, map=m)


if __name__ == "__main__":
    main()
