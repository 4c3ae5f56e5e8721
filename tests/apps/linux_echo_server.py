#!/usr/bin/env python3
"""Linux's own echo server for the tcp-echo baseline: threaded, echoes every
byte, closes after the peer's FIN. Usage: linux_echo_server.py ADDR PORT."""
import socketserver
import sys


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            b = self.request.recv(262144)
            if not b:
                return
            self.request.sendall(b)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


if __name__ == "__main__":
    Server((sys.argv[1], int(sys.argv[2])), Echo).serve_forever()
