package main

import (
	"fmt"
	"strconv"
)

// A server is how to start one echo server on a port.
type server struct {
	name  string
	about string
	cmd   func(bin string, port int) []string
}

var servers = []server{
	{"sock-goroutines", "socketserver, Goroutines dispatcher (sock serve echo --dispatcher goroutines)", func(bin string, port int) []string {
		return []string{bin + "/sock", "serve", "echo", "--dispatcher", "goroutines", "--addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"sock-loop", "the event-loop engine, 1 loop (sock serve echo --engine loop --loops 1)", func(bin string, port int) []string {
		return []string{bin + "/sock", "serve", "echo", "--engine", "loop", "--loops", "1", "--addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"sock-uring", "the event-loop engine on io_uring, 1 loop (sock serve echo --engine uring --loops 1)", func(bin string, port int) []string {
		return []string{bin + "/sock", "serve", "echo", "--engine", "uring", "--loops", "1", "--addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"sock-loop2", "the engine, 2 loops sharing one listener (EPOLLEXCLUSIVE)", func(bin string, port int) []string {
		return []string{bin + "/sock", "serve", "echo", "--engine", "loop", "--loops", "2", "--addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"sock-loop2-reuseport", "the engine, 2 loops, a SO_REUSEPORT listener each", func(bin string, port int) []string {
		return []string{bin + "/sock", "serve", "echo", "--engine", "loop", "--loops", "2", "--reuseport", "--addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"stdlib", "net.Listener, a goroutine per connection, io.Copy", func(bin string, port int) []string {
		return []string{bin + "/echoserver", "-impl", "stdlib", "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"stdlib-rw", "net.Listener, a goroutine per connection, read/write loop", func(bin string, port int) []string {
		return []string{bin + "/echoserver", "-impl", "stdlib-rw", "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"gnet", "gnet v2.9.7, OnTraffic: Next(-1), Write", peer("gnet")},
	{"nbio", "nbio v1.6.8, OnData: Write", peer("nbio")},
	{"netpoll", "netpoll v0.7.2, OnRequest: Next, Malloc, Flush", peer("netpoll")},
	{"evio", "evio v1.0.8, Data returns its input", peer("evio")},
	{"python", "Python socketserver.ThreadingTCPServer, recv/sendall (bench/python/echo_server.py)", func(bin string, port int) []string {
		return []string{"python3", bin + "/../python/echo_server.py", "127.0.0.1", strconv.Itoa(port)}
	}},
	{"c-epoll", "C, one thread, level-triggered epoll, one read and one write per event (bench/c/epoll_echo.c, gcc -O2)", func(bin string, port int) []string {
		return []string{bin + "/epoll_echo", "127.0.0.1", strconv.Itoa(port)}
	}},
}

// peer is the command for a peer framework's server in echoserver.
func peer(impl string) func(bin string, port int) []string {
	return func(bin string, port int) []string {
		return []string{bin + "/echoserver", "-impl", impl, "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}
}

// httpServers answer GET /plaintext with "Hello, World!".
var httpServers = []server{
	{"sock-http", "the event-loop engine, 1 loop: every complete request in the buffer answered with one write", peer("sock-http")},
	{"sock-http-uring", "the same on io_uring", func(bin string, port int) []string {
		return []string{bin + "/echoserver", "-impl", "sock-http", "-backend", "io_uring", "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"gnet-http", "gnet v2.9.7, 1 loop, the same handler", peer("gnet-http")},
	{"nethttp", "net/http, a goroutine per connection", peer("nethttp")},
}

// acceptServers compare the engine's two ways of accepting, with 2 loops.
var acceptServers = []server{
	{"sock-http2", "the engine, 2 loops sharing one listener (EPOLLEXCLUSIVE)", func(bin string, port int) []string {
		return []string{bin + "/echoserver", "-impl", "sock-http", "-loops", "2", "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"sock-http2-reuseport", "the engine, 2 loops, a SO_REUSEPORT listener each", func(bin string, port int) []string {
		return []string{bin + "/echoserver", "-impl", "sock-http", "-loops", "2", "-reuseport", "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
	{"sock-http2-uring", "the engine on io_uring, 2 loops sharing one listener (a multishot accept on it each)", func(bin string, port int) []string {
		return []string{bin + "/echoserver", "-impl", "sock-http", "-loops", "2", "-backend", "io_uring", "-addr", fmt.Sprintf("127.0.0.1:%d", port)}
	}},
}
