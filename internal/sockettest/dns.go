package sockettest

import (
	"context"
	"encoding/binary"
	"io"
	"net"

	"golang.org/x/net/dns/dnsmessage"
)

// UseOfflineResolver replaces net.DefaultResolver with a pure-Go resolver
// whose DNS server is in process: /etc/hosts is read as usual, and every
// query that would go to a name server is answered NXDOMAIN without any
// packet leaving the process. Tests must send traffic only to loopback, and
// a DNS query for "no-such-host.invalid" would otherwise reach the real
// resolver. It returns a function that restores the previous resolver.
func UseOfflineResolver() (restore func()) {
	prev := net.DefaultResolver
	net.DefaultResolver = &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, server := net.Pipe()
			go answerNXDOMAIN(server)
			return client, nil
		},
	}
	return func() { net.DefaultResolver = prev }
}

// answerNXDOMAIN serves DNS over a stream (2-byte length prefix), answering
// every query with "no such name", until the client closes.
func answerNXDOMAIN(c net.Conn) {
	defer c.Close()
	for {
		var lenBuf [2]byte
		if _, err := io.ReadFull(c, lenBuf[:]); err != nil {
			return
		}
		q := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(c, q); err != nil {
			return
		}
		var p dnsmessage.Parser
		h, err := p.Start(q)
		if err != nil {
			return
		}
		qs, err := p.AllQuestions()
		if err != nil {
			return
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, RecursionDesired: h.RecursionDesired,
			RecursionAvailable: true, RCode: dnsmessage.RCodeNameError})
		b.EnableCompression()
		b.StartQuestions()
		for _, qq := range qs {
			b.Question(qq)
		}
		resp, err := b.Finish()
		if err != nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.Write(append(out, resp...)); err != nil {
			return
		}
	}
}
