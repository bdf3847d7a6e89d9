"""The Python reference server for the echo benchmarks: the tutorial's
socketserver, with a thread per connection (ThreadingTCPServer).

    python3 echo_server.py 127.0.0.1 7000
"""
import socketserver
import sys


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        while True:
            data = conn.recv(65536)
            if not data:
                return
            conn.sendall(data)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    with Server((host, port), Echo) as srv:
        print("LISTENING", srv.server_address, flush=True)
        srv.serve_forever()
