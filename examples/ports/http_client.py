# The HTTP client from Python's asyncore documentation ("asyncore Example
# basic HTTP client"), with the host, port and path taken from the command
# line so that it can be pointed at a local server:
#
#     python3 -m http.server 8000 &
#     python3 -W ignore examples/ports/http_client.py 127.0.0.1 8000 /
#
# Its Go port is Example_httpClient in dispatcher/example_test.go.
# (asyncore was removed in Python 3.12; this runs on 3.11 and earlier.)

import asyncore
import sys


class HTTPClient(asyncore.dispatcher):

    def __init__(self, host, port, path):
        asyncore.dispatcher.__init__(self)
        self.create_socket()
        self.connect((host, port))
        self.buffer = bytes('GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' %
                            (path, host), 'ascii')

    def handle_connect(self):
        pass

    def handle_close(self):
        self.close()

    def handle_read(self):
        print(self.recv(8192))

    def writable(self):
        return (len(self.buffer) > 0)

    def handle_write(self):
        sent = self.send(self.buffer)
        self.buffer = self.buffer[sent:]


if __name__ == '__main__':
    host = sys.argv[1] if len(sys.argv) > 1 else 'www.python.org'
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 80
    path = sys.argv[3] if len(sys.argv) > 3 else '/'
    client = HTTPClient(host, port, path)
    asyncore.loop()
