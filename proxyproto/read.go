package proxyproto

import (
	"errors"
	"io"
	"slices"
)

// ReadHeader reads a PROXY protocol header from r and never reads past
// it: what follows is left in r for the application. On a connection that
// gives access to its descriptor (syscall.Conn: *net.TCPConn,
// *socket.Socket and the like) it looks at the waiting bytes with
// recv(2)'s MSG_PEEK and then takes exactly the header, usually in two
// system calls. Elsewhere it reads the fixed part and then the rest of a
// version 2 header in two reads, and the tail of a version 1 line a byte
// at a time.
//
// Reading stops with an error wrapping ErrNoHeader or ErrInvalid as soon
// as the bytes cannot be a header, and with io.ErrUnexpectedEOF when the
// peer closes in the middle of one (io.EOF if it sent nothing). Bound the
// wait with a read deadline on the connection.
func ReadHeader(r io.Reader) (*Header, error) {
	if r == nil {
		return nil, errors.New("proxyproto: ReadHeader from a nil io.Reader")
	}
	if peek, ok := peeker(r); ok {
		return readPeeking(r, peek)
	}
	return readExact(r)
}

// readExact reads exactly as many bytes as parse says are still needed.
func readExact(r io.Reader) (*Header, error) {
	buf := make([]byte, 0, 256)
	for {
		h, _, need, err := parse(buf)
		if !errors.Is(err, ErrIncomplete) {
			return h, err
		}
		buf = slices.Grow(buf, need-len(buf))
		n, err := io.ReadFull(r, buf[len(buf):need])
		buf = buf[:len(buf)+n]
		if err != nil {
			return nil, eofError(err, len(buf))
		}
	}
}

// readPeeking looks at what has arrived, then consumes exactly the header.
// Bytes it has seen but that are not a whole header yet are all header
// bytes, so it consumes them too; the next peek then waits for more
// instead of spinning on the same bytes.
func readPeeking(r io.Reader, peek func([]byte) (int, error)) (*Header, error) {
	var acc []byte
	buf := make([]byte, 256)
	for {
		n, err := peek(buf)
		if err != nil {
			return nil, eofError(err, len(acc))
		}
		all := append(acc[:len(acc):len(acc)], buf[:n]...)
		h, hlen, need, perr := parse(all)
		switch {
		case perr == nil:
			if _, err := io.ReadFull(r, buf[:hlen-len(acc)]); err != nil {
				return nil, eofError(err, len(acc))
			}
			return h, nil
		case !errors.Is(perr, ErrIncomplete):
			return nil, perr
		}
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return nil, eofError(err, len(acc))
		}
		acc = all
		if need > len(acc) && need-len(acc) > len(buf) {
			buf = make([]byte, need-len(acc))
		}
	}
}

// eofError turns an EOF inside a header into io.ErrUnexpectedEOF.
func eofError(err error, have int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if have == 0 && errors.Is(err, io.EOF) {
			return io.EOF
		}
		return io.ErrUnexpectedEOF
	}
	return err
}
