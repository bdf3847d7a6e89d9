package socket

import (
	"context"
	"errors"
	"net"
	"sync"
	"syscall"
	"time"
)

// DialOptions tunes CreateConnection. The zero value is usable.
type DialOptions struct {
	// Timeout bounds the whole call, resolution included; 0 means none
	// beyond ctx. It also becomes the connected socket's timeout, as in
	// Python.
	Timeout time.Duration
	// Source, if set, is bound before connecting ("host:port"; port 0 or a
	// bare ":0" picks any). Python: source_address.
	Source string
	// AllErrors reports every attempt's error (errors.Join) instead of the
	// first. Python: all_errors.
	AllErrors bool
	// Type is SOCK_STREAM (the default) or SOCK_DGRAM.
	Type Type
	// Family restricts the addresses tried to AF_INET or AF_INET6;
	// AF_UNSPEC (the default) tries both.
	Family Family
	// FallbackDelay is how long an attempt runs before the next address is
	// tried in parallel (RFC 8305 "connection attempt delay"); 0 means 250ms,
	// a negative value tries addresses one after another.
	FallbackDelay time.Duration
}

// CreateConnection resolves address ("host:port"), then connects to its
// addresses, alternating IPv6 and IPv4 and starting the next attempt
// whenever one fails or has run for FallbackDelay without finishing (Happy
// Eyeballs, RFC 8305). The first to connect wins and the others are closed.
// It is not one system call.
//
// Python: socket.create_connection(address, timeout, source_address,
// all_errors=...).
func CreateConnection(ctx context.Context, address string, opts *DialOptions) (*Socket, error) {
	if ctx == nil {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: nil, Err: errNilContext}
	}
	var o DialOptions
	if opts != nil {
		o = *opts
	}
	if o.Type == 0 {
		o.Type = SOCK_STREAM
	}
	if o.FallbackDelay == 0 {
		o.FallbackDelay = 250 * time.Millisecond
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, &AddrError{Addr: address, Reason: "want host:port (IPv6 as [addr]:port)"}
	}
	ais, err := GetAddrInfo(ctx, host, port, &AddrInfoHints{Type: o.Type, Family: o.Family})
	if err != nil {
		return nil, err
	}
	var srcs []Sockaddr
	if o.Source != "" {
		for _, f := range []Family{AF_INET, AF_INET6} {
			if sa, err := ParseAddrContext(ctx, f, o.Source); err == nil {
				srcs = append(srcs, sa)
			}
		}
		if len(srcs) == 0 {
			_, err := ParseAddrContext(ctx, AF_UNSPEC, o.Source)
			return nil, err
		}
	}
	// Interleave the families, starting with the first one returned.
	var first, second []AddrInfo
	for _, ai := range ais {
		if len(first) == 0 || ai.Family == first[0].Family {
			first = append(first, ai)
		} else {
			second = append(second, ai)
		}
	}
	var order []AddrInfo
	for i := 0; i < len(first) || i < len(second); i++ {
		if i < len(first) {
			order = append(order, first[i])
		}
		if i < len(second) {
			order = append(order, second[i])
		}
	}

	type result struct {
		s   *Socket
		err error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan result, len(order))
	var wg sync.WaitGroup
	attempt := func(ai AddrInfo) {
		defer wg.Done()
		s, err := dialOne(ctx, ai, srcs)
		results <- result{s, err}
	}
	var errs []error
	var winner *Socket
	next, pending := 0, 0
	startNext := func() {
		wg.Add(1)
		pending++
		go attempt(order[next])
		next++
	}
	startNext()
	for pending > 0 && winner == nil {
		var timer <-chan time.Time
		if next < len(order) && o.FallbackDelay > 0 {
			timer = time.After(o.FallbackDelay)
		}
		select {
		case r := <-results:
			pending--
			if r.err == nil {
				winner = r.s
			} else {
				errs = append(errs, r.err)
				if next < len(order) {
					startNext()
				}
			}
		case <-timer:
			startNext()
		}
	}
	cancel()
	go func() { wg.Wait(); close(results) }()
	for r := range results { // close the losers
		if r.s != nil {
			r.s.Close()
		}
	}
	if winner != nil {
		if o.Timeout > 0 {
			_ = winner.SetTimeout(o.Timeout)
		}
		return winner, nil
	}
	if o.AllErrors {
		return nil, errors.Join(errs...)
	}
	return nil, errs[0]
}

func dialOne(ctx context.Context, ai AddrInfo, srcs []Sockaddr) (*Socket, error) {
	s, err := New(ai.Family, ai.Type, ai.Proto)
	if err != nil {
		return nil, err
	}
	for _, src := range srcs {
		if src.Family() == ai.Family {
			if err := s.Bind(src); err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	if err := s.ConnectContext(ctx, ai.Addr); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ServerOptions tunes CreateServer. The zero value is usable.
type ServerOptions struct {
	// Family is AF_INET or AF_INET6; AF_UNSPEC picks AF_INET6 for an IPv6
	// literal and AF_INET otherwise.
	Family Family
	// Backlog for Listen; 0 means DefaultBacklog.
	Backlog int
	// ReusePort sets SO_REUSEPORT.
	ReusePort bool
	// DualStackIPv6 makes an AF_INET6 server accept IPv4 too (IPV6_V6ONLY
	// off). Without it an AF_INET6 server is IPv6 only.
	DualStackIPv6 bool
}

// CreateServer returns a TCP socket bound to address ("host:port"; ":0"
// for any port on every address) and listening. SO_REUSEADDR is set, as
// Python does on POSIX. It is Listen with "tcp", "tcp4" or "tcp6" as
// Family says, and the backlog defaulting to DefaultBacklog; it is not one
// system call.
//
// Python: socket.create_server(address, family, backlog, reuse_port,
// dualstack_ipv6).
func CreateServer(address string, opts *ServerOptions) (*Socket, error) {
	var o ServerOptions
	if opts != nil {
		o = *opts
	}
	network := "tcp"
	switch o.Family {
	case AF_INET:
		network = "tcp4"
	case AF_INET6:
		network = "tcp6"
	case AF_UNSPEC:
		if o.DualStackIPv6 {
			network = "tcp6"
		}
	default:
		return nil, &AddrError{Addr: address, Family: o.Family, Reason: "CreateServer serves AF_INET or AF_INET6", Err: syscall.EAFNOSUPPORT}
	}
	backlog := o.Backlog
	if backlog == 0 {
		backlog = DefaultBacklog
	}
	return Listen(network, address, &ListenOptions{Backlog: backlog, ReusePort: o.ReusePort, DualStack: o.DualStackIPv6})
}

var (
	hasIPv6Once, dualOnce sync.Once
	hasIPv6, hasDual      bool
)

// HasIPv6 reports whether this host can bind an IPv6 loopback socket.
//
// Python: socket.has_ipv6 (which only says how Python was built).
func HasIPv6() bool {
	hasIPv6Once.Do(func() {
		s, err := New(AF_INET6, SOCK_STREAM, 0)
		if err != nil {
			return
		}
		defer s.Close()
		hasIPv6 = s.Bind(&Inet6Addr{Addr: [16]byte{15: 1}}) == nil
	})
	return hasIPv6
}

// HasDualStackIPv6 reports whether one AF_INET6 socket can serve both IPv4
// and IPv6 (IPV6_V6ONLY can be turned off).
//
// Python: socket.has_dualstack_ipv6().
func HasDualStackIPv6() bool {
	dualOnce.Do(func() {
		s, err := New(AF_INET6, SOCK_STREAM, 0)
		if err != nil {
			return
		}
		defer s.Close()
		hasDual = s.SetV6Only(false) == nil
	})
	return hasDual
}
