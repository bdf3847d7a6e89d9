package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/socketkit/socketkit/eventloop"
)

// The HTTP plaintext servers (TechEmpower's "plaintext" test: GET
// /plaintext answered with a 13-byte "Hello, World!", requests pipelined).
// The event-loop ones answer every complete request in the buffer with
// one write, the way TechEmpower's gnet entry does; requests are not
// otherwise parsed (the load is wrk's GET with no body).

func init() {
	impls["sock-http"] = sockHTTP
	impls["gnet-http"] = gnetHTTP
	impls["nethttp"] = netHTTP
}

var hello = []byte("Hello, World!")

// response holds the current response, whose Date header changes each
// second.
var response atomic.Pointer[[]byte]

func keepResponse() {
	set := func() {
		b := fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: text/plain\r\nDate: %s\r\nContent-Length: %d\r\n\r\n%s",
			time.Now().UTC().Format(http.TimeFormat), len(hello), hello)
		response.Store(&b)
	}
	set()
	go func() {
		for range time.Tick(time.Second) {
			set()
		}
	}()
}

var (
	headerEnd = []byte("\r\n\r\n")
	connClose = []byte("\r\nConnection: close\r\n")
	loops     int
	reusePort bool
	backend   string
)

// answer appends a response to out for each complete request in in and
// returns the bytes consumed, and whether the client asked to close (wrk
// -H "Connection: close": a connection a request, for the accept tests).
func answer(in, out []byte) (consumed int, _ []byte, closing bool) {
	resp := *response.Load()
	for {
		i := bytes.Index(in[consumed:], headerEnd)
		if i < 0 {
			return consumed, out, false
		}
		req := in[consumed : consumed+i+2]
		consumed += i + len(headerEnd)
		if bytes.Contains(req, connClose) {
			// The same response with the header that says so.
			out = append(out, resp[:len("HTTP/1.1 200 OK\r\n")]...)
			out = append(out, "Connection: close\r\n"...)
			out = append(out, resp[len("HTTP/1.1 200 OK\r\n"):]...)
			return consumed, out, true
		}
		out = append(out, resp...)
	}
}

type loopHTTP struct{ eventloop.BaseHandler }

func (loopHTTP) OnData(c *eventloop.Conn) eventloop.Action {
	// Scratch on the stack: loops run OnData at the same time, and Write
	// copies.
	var buf [4096]byte
	in, _ := c.Peek(-1)
	n, out, closing := answer(in, buf[:0])
	c.Discard(n)
	c.Write(out)
	if closing {
		return eventloop.Close // after the output is sent
	}
	return eventloop.None
}

func sockHTTP(addr string) error {
	keepResponse()
	e := &eventloop.Engine{Handler: loopHTTP{}, Loops: loops, ReusePort: reusePort, Backend: eventloop.Backend(backend)}
	fmt.Println("LISTENING", addr)
	return e.ListenAndServe("tcp", addr)
}

type gnetHTTPServer struct {
	gnet.BuiltinEventEngine
	out []byte
}

func (s *gnetHTTPServer) OnTraffic(c gnet.Conn) gnet.Action {
	in, _ := c.Peek(-1)
	n, out, closing := answer(in, s.out[:0])
	c.Discard(n)
	c.Write(out)
	s.out = out
	if closing {
		return gnet.Close
	}
	return gnet.None
}

func gnetHTTP(addr string) error {
	keepResponse()
	fmt.Println("LISTENING", addr)
	// One loop (the runtime sees one CPU under taskset), so one out buffer.
	return gnet.Run(&gnetHTTPServer{}, "tcp://"+addr, gnet.WithMulticore(false))
}

func netHTTP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println("LISTENING", ln.Addr())
	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Server"] = []string{"bench"}
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{strconv.Itoa(len(hello))}
		w.Write(hello)
	})
	return http.Serve(ln, mux)
}
