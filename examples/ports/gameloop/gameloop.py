"""A server and its clients in one loop, driven the way a game drives its
network: one asyncore.loop(timeout=0, count=1) per frame, so the network is
polled and the frame never waits for it.

The server answers each line in capitals. Each player thinks for THINK
frames after the server has answered its last move, then sends the next
one: the frame code queues the move (say), outside any event, and the next
pass sees writable() turn true. While a player thinks, nothing is ready on
the network, and the frame must not wait for it.

Run: python3 -W ignore gameloop.py
"""
import asyncore
import socket

THINK = 3


class Echo(asyncore.dispatcher_with_send):
    def handle_read(self):
        data = self.recv(512)
        if data:
            self.send(data.upper())


class Server(asyncore.dispatcher):
    def __init__(self, m):
        asyncore.dispatcher.__init__(self, map=m)
        self.map = m
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.set_reuse_addr()
        self.bind(("127.0.0.1", 0))
        self.listen(5)

    def handle_accepted(self, sock, addr):
        Echo(sock, map=self.map)


class Player(asyncore.dispatcher):
    def __init__(self, name, moves, addr, m):
        asyncore.dispatcher.__init__(self, map=m)
        self.name = name
        self.moves = moves
        self.out = b""
        self.inbox = b""
        self.waiting = False
        self.think = 0
        self.log = []
        self.create_socket(socket.AF_INET, socket.SOCK_STREAM)
        self.connect(addr)

    def handle_connect(self):
        pass

    def writable(self):
        return len(self.out) > 0

    def handle_read(self):
        self.inbox += self.recv(512)

    def handle_write(self):
        self.out = self.out[self.send(self.out):]

    def say(self, text):
        self.out += text.encode() + b"\n"

    def frame(self):
        """The player's part of one frame of game logic."""
        while b"\n" in self.inbox:
            line, self.inbox = self.inbox.split(b"\n", 1)
            self.log.append(line.decode())
            self.waiting = False
            self.think = THINK
        if self.think > 0:
            self.think -= 1
        elif not self.waiting and self.moves:
            self.say(self.moves.pop(0))
            self.waiting = True


m = {}
server = Server(m)
addr = server.socket.getsockname()
players = [
    Player("p1", ["left", "jump", "fire"], addr, m),
    Player("p2", ["right", "duck"], addr, m),
]

frames = 0
while any(p.moves or p.waiting for p in players):
    asyncore.loop(timeout=0, count=1, map=m)  # poll: never block the frame
    frames += 1
    for p in players:
        p.frame()

for p in players:
    p.close()
server.close()
while m:  # the server's connections see EOF and close
    asyncore.loop(timeout=0, count=1, map=m)

for p in players:
    print(p.name + ":", " ".join(p.log))
print("frames > 0:", str(frames > 0).lower(), "channels left:", len(m))
