package main

import (
	"context"
	"fmt"
	"net"
	"strings"

	"github.com/cloudwego/netpoll"
	"github.com/lesismal/nbio"
	"github.com/panjf2000/gnet/v2"
	"github.com/tidwall/evio"
)

// The peer frameworks' echo servers, each written the way its own README
// or example writes it, with default settings. Under taskset -c 0 the Go
// runtime sees one CPU, so each runs one event loop, as ours does with
// --loops 1.

func init() {
	impls["gnet"] = gnetEcho
	impls["nbio"] = nbioEcho
	impls["netpoll"] = netpollEcho
	impls["evio"] = evioEcho
}

type gnetServer struct {
	gnet.BuiltinEventEngine
	addr string
}

func (s *gnetServer) OnBoot(eng gnet.Engine) gnet.Action {
	fmt.Println("LISTENING", s.addr)
	return gnet.None
}

func (s *gnetServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	c.Write(buf)
	return gnet.None
}

func gnetEcho(addr string) error {
	return gnet.Run(&gnetServer{addr: addr}, "tcp://"+addr, gnet.WithMulticore(true))
}

func nbioEcho(addr string) error {
	eng := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{addr}})
	// nbio copies what a write leaves unsent, so the read buffer can be
	// written back as it is (its README copies first; this is faster).
	eng.OnData(func(c *nbio.Conn, data []byte) { c.Write(data) })
	if err := eng.Start(); err != nil {
		return err
	}
	fmt.Println("LISTENING", addr)
	select {}
}

func netpollEcho(addr string) error {
	ln, err := netpoll.CreateListener("tcp", addr)
	if err != nil {
		return err
	}
	loop, err := netpoll.NewEventLoop(func(ctx context.Context, c netpoll.Connection) error {
		r, w := c.Reader(), c.Writer()
		n := r.Len()
		if n == 0 {
			return nil
		}
		in, err := r.Next(n)
		if err != nil {
			return err
		}
		out, err := w.Malloc(n)
		if err != nil {
			return err
		}
		copy(out, in)
		r.Release()
		return w.Flush()
	})
	if err != nil {
		return err
	}
	fmt.Println("LISTENING", ln.Addr())
	return loop.Serve(ln)
}

func evioEcho(addr string) error {
	var ev evio.Events
	ev.NumLoops = -1 // one per CPU the runtime sees
	ev.Serving = func(s evio.Server) evio.Action {
		fmt.Println("LISTENING", strings.Join(addrStrings(s.Addrs), ","))
		return evio.None
	}
	ev.Data = func(c evio.Conn, in []byte) ([]byte, evio.Action) {
		return in, evio.None
	}
	return evio.Serve(ev, "tcp://"+addr)
}

func addrStrings(as []net.Addr) []string {
	var s []string
	for _, a := range as {
		s = append(s, a.String())
	}
	return s
}
