"""A periodic broadcast with an idle kick, the select.poll tutorial's
server written with asyncore, and its two clients in the same map.

Every TICK the server sends "tick N" to every client; a client that has
said nothing for IDLE_TICKS ticks gets "idle, bye" and is closed. At tick
STOP_AT the server says "server stopping" and stops listening; the clients
hang up. alice answers every tick with "pong"; bob never says a word.

Nothing here calls a "the predicates changed" function: writable() is asked
on every pass, as asyncore does, and the ticks come from the driving loop
between passes (asyncore has no timers).

Run: python3 -W ignore broadcast.py
"""
import asyncore
import socket
import time

TICK = 0.05
IDLE_TICKS = 4
STOP_AT = 6


class Conn(asyncore.dispatcher):
    """The server's side of one client."""

    def __init__(self, sock, server):
        asyncore.dispatcher.__init__(self, sock, map=server.map)
        self.server = server
        self.out = b""
        self.heard = server.tick
        self.kicked = False

    def writable(self):
        return len(self.out) > 0

    def handle_read(self):
        if self.recv(512):
            self.heard = self.server.tick

    def handle_write(self):
        self.out = self.out[self.send(self.out):]
        if not self.out and self.kicked:
            self.close()


class Server(asyncore.dispatcher):
    def __init__(self, m):
        asyncore.dispatcher.__init__(self, map=m)
        self.map = m
        self.tick = 0
        self.conns = []
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(5)

    def handle_accepted(self, sock, addr):
        self.conns.append(Conn(sock, self))

    def broadcast(self):
        self.tick += 1
        for c in self.conns:
            if c.kicked or not c.connected:
                continue
            if self.tick == STOP_AT:
                c.out += b"server stopping\n"
            elif self.tick - c.heard >= IDLE_TICKS:
                c.out += b"idle, bye\n"
                c.kicked = True
            else:
                c.out += b"tick %d\n" % self.tick
        if self.tick == STOP_AT:
            self.close()  # stop listening; the clients hang up


class Client(asyncore.dispatcher):
    def __init__(self, name, addr, m, talks):
        asyncore.dispatcher.__init__(self, map=m)
        self.name = name
        self.talks = talks
        self.out = b""
        self.got = b""
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.connect(addr)

    def handle_connect(self):
        pass

    def writable(self):
        return len(self.out) > 0

    def handle_read(self):
        data = self.recv(512)
        self.got += data
        if b"stopping" in data:
            self.close()
        elif data and self.talks:
            self.out += b"pong\n"

    def handle_write(self):
        self.out = self.out[self.send(self.out):]

    def handle_close(self):
        self.close()


m = {}
server = Server(m)
addr = server.socket.getsockname()
clients = [Client("alice", addr, m, True), Client("bob", addr, m, False)]

next_tick = time.monotonic() + TICK
while server.tick < STOP_AT:
    asyncore.loop(timeout=TICK, count=1, map=m)
    if time.monotonic() >= next_tick:
        server.broadcast()
        next_tick += TICK
asyncore.loop(timeout=TICK, map=m)  # until every channel has closed

for c in clients:
    print(c.name + ":", " | ".join(c.got.decode().splitlines()))
print("channels left:", len(m))
