package socketserver

import "sync/atomic"

// Stats is a snapshot of a server's counters. With Prefork, the parent's
// Stats are the sums of its workers' (see Prefork).
type Stats struct {
	Accepted     uint64 // connections accepted, or datagrams received
	Active       int64  // requests in flight now
	Rejected     uint64 // turned away: MaxConnections, VerifyRequest, ProxyProtocol
	Errors       uint64 // handler errors and panics
	AcceptErrors uint64 // temporary accept or receive errors retried
	Truncated    uint64 // datagrams over MaxPacketSize, dropped
	BytesIn      uint64 // bytes received through Request.Conn or as datagrams
	BytesOut     uint64 // bytes sent through Request.Conn or Reply
}

// counters are where a server counts. They hold no pointers, so that a
// prefork child's can live in memory it shares with its parent.
type counters struct {
	accepted, rejected, errors, acceptErrors, truncated, bytesIn, bytesOut atomic.Uint64
	active                                                                 atomic.Int64
}

// snapshot reads the counters.
func (c *counters) snapshot() Stats {
	return Stats{
		Accepted: c.accepted.Load(), Active: c.active.Load(), Rejected: c.rejected.Load(),
		Errors: c.errors.Load(), AcceptErrors: c.acceptErrors.Load(), Truncated: c.truncated.Load(),
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
	}
}

// add adds o to st.
func (st *Stats) add(o Stats) {
	st.Accepted += o.Accepted
	st.Active += o.Active
	st.Rejected += o.Rejected
	st.Errors += o.Errors
	st.AcceptErrors += o.AcceptErrors
	st.Truncated += o.Truncated
	st.BytesIn += o.BytesIn
	st.BytesOut += o.BytesOut
}

// Stats returns the server's counters: in a Prefork parent, the sum of
// what its workers have served, the ones that exited included.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	c, fe := s.counters(), s.fe
	s.mu.Unlock()
	st := c.snapshot()
	if fe != nil {
		fe.addStats(&st)
	}
	return st
}

// counters returns where requests count; s.mu is held.
func (s *Server) counters() *counters {
	if s.st == nil {
		s.st = &s.local
	}
	return s.st
}
