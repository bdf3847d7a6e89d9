// Package framed is the message format of the reliability tests: every
// message carries its connection's id, a sequence number and a CRC-32, so
// that a test detects loss, duplication, reordering and corruption instead
// of merely seeing no error.
//
// A frame is a 24-byte header and a payload:
//
//	offset  size  field
//	0       4     magic "SKF1"
//	4       8     connection id (big endian)
//	12      4     sequence number
//	16      4     payload length
//	20      4     CRC-32 (IEEE) of bytes 4..20 and the payload
//	24      n     payload: Fill(id, seq, n)
//
// The payload is a function of the id and the sequence number, so the
// checker also knows what the bytes should have been.
package framed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a frame's header.
const HeaderSize = 24

// MaxPayload bounds a frame's payload; a longer length is corruption.
const MaxPayload = 1 << 20

var magic = [4]byte{'S', 'K', 'F', '1'}

// Errors a Decoder reports. They wrap ErrCorrupt.
var (
	ErrCorrupt  = errors.New("framed: corrupt frame")
	errMagic    = fmt.Errorf("%w: bad magic", ErrCorrupt)
	errLength   = fmt.Errorf("%w: payload length over %d", ErrCorrupt, MaxPayload)
	errChecksum = fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	errPayload  = fmt.Errorf("%w: payload differs from what was sent", ErrCorrupt)
)

// Fill writes the payload of frame (id, seq) into p: an xorshift stream
// seeded by both.
func Fill(p []byte, id uint64, seq uint32) {
	x := seed(id, seq)
	for i := range p {
		x = next(x)
		p[i] = byte(x)
	}
}

func seed(id uint64, seq uint32) uint64 {
	return id*0x9e3779b97f4a7c15 ^ uint64(seq+1)*0xbf58476d1ce4e5b9
}

func next(x uint64) uint64 {
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	return x
}

// Append appends frame (id, seq) with an n-byte payload to dst.
func Append(dst []byte, id uint64, seq uint32, n int) []byte {
	start := len(dst)
	dst = append(dst, magic[:]...)
	dst = binary.BigEndian.AppendUint64(dst, id)
	dst = binary.BigEndian.AppendUint32(dst, seq)
	dst = binary.BigEndian.AppendUint32(dst, uint32(n))
	dst = append(dst, 0, 0, 0, 0)
	dst = append(dst, make([]byte, n)...)
	Fill(dst[start+HeaderSize:], id, seq)
	sum := crc32.NewIEEE()
	sum.Write(dst[start+4 : start+20])
	sum.Write(dst[start+HeaderSize:])
	binary.BigEndian.PutUint32(dst[start+20:], sum.Sum32())
	return dst
}

// Frame is a decoded frame. Payload aliases the decoder's input.
type Frame struct {
	ID      uint64
	Seq     uint32
	Payload []byte
}

// Decode parses one frame from the start of b. It returns the frame and
// the bytes it used; 0 bytes and no error means b holds only part of a
// frame. An error means b does not start with a valid frame.
func Decode(b []byte) (Frame, int, error) {
	if len(b) < HeaderSize {
		if len(b) > 0 && b[0] != magic[0] {
			return Frame{}, 0, errMagic
		}
		return Frame{}, 0, nil
	}
	if [4]byte(b[:4]) != magic {
		return Frame{}, 0, errMagic
	}
	f := Frame{ID: binary.BigEndian.Uint64(b[4:]), Seq: binary.BigEndian.Uint32(b[12:])}
	n := binary.BigEndian.Uint32(b[16:])
	if n > MaxPayload {
		return Frame{}, 0, errLength
	}
	if len(b) < HeaderSize+int(n) {
		return Frame{}, 0, nil
	}
	f.Payload = b[HeaderSize : HeaderSize+int(n)]
	sum := crc32.NewIEEE()
	sum.Write(b[4:20])
	sum.Write(f.Payload)
	if sum.Sum32() != binary.BigEndian.Uint32(b[20:]) {
		return Frame{}, 0, errChecksum
	}
	return f, HeaderSize + int(n), nil
}

// Verify reports whether f's payload is the one Fill makes for it.
func Verify(f Frame) error {
	x := seed(f.ID, f.Seq)
	for _, b := range f.Payload {
		x = next(x)
		if b != byte(x) {
			return errPayload
		}
	}
	return nil
}

// Tally counts what a receiver saw, per connection, against what it
// expected: frames in order with seq 0, 1, 2... A frame that arrives late
// counts as lost where it was due and duplicated where it arrived:
// reordering is damage like the others.
type Tally struct {
	OK         int64 // frames in order and intact
	Lost       int64 // sequence numbers skipped
	Duplicated int64 // sequence numbers seen before
	Corrupt    int64 // frames that failed the checksum or payload check, or bytes that were not a frame
	Bytes      int64 // payload bytes of the OK frames
}

// Add adds u into t.
func (t *Tally) Add(u Tally) {
	t.OK += u.OK
	t.Lost += u.Lost
	t.Duplicated += u.Duplicated
	t.Corrupt += u.Corrupt
	t.Bytes += u.Bytes
}

// Clean reports whether nothing was lost, duplicated or corrupted.
func (t Tally) Clean() bool { return t.Lost == 0 && t.Duplicated == 0 && t.Corrupt == 0 }

func (t Tally) String() string {
	return fmt.Sprintf("ok=%d lost=%d duplicated=%d corrupt=%d bytes=%d", t.OK, t.Lost, t.Duplicated, t.Corrupt, t.Bytes)
}

// Checker follows one connection's frames.
type Checker struct {
	ID   uint64 // the connection id frames must carry
	next uint32
	T    Tally
}

// Check accounts for one frame.
func (c *Checker) Check(f Frame) {
	switch {
	case f.ID != c.ID:
		c.T.Corrupt++ // a frame of another connection: crossed streams
	case Verify(f) != nil:
		c.T.Corrupt++
	case f.Seq == c.next:
		c.T.OK++
		c.T.Bytes += int64(len(f.Payload))
		c.next++
	case f.Seq > c.next:
		c.T.Lost += int64(f.Seq - c.next)
		c.T.OK++
		c.T.Bytes += int64(len(f.Payload))
		c.next = f.Seq + 1
	default:
		c.T.Duplicated++
	}
}

// Missing accounts for frames sent but never received: call it at the end
// with the number sent.
func (c *Checker) Missing(sent uint32) {
	if sent > c.next {
		c.T.Lost += int64(sent - c.next)
		c.next = sent
	}
}

// Stream feeds a connection's bytes, in any pieces, to a Checker.
type Stream struct {
	Checker
	buf []byte
	bad bool // the stream lost framing: the rest is counted as corrupt
}

// Write takes the next bytes the connection delivered; it never fails.
func (s *Stream) Write(p []byte) (int, error) {
	if s.bad {
		return len(p), nil
	}
	s.buf = append(s.buf, p...)
	off := 0
	for {
		f, n, err := Decode(s.buf[off:])
		if err != nil {
			s.T.Corrupt++
			s.bad = true
			s.buf = nil
			return len(p), nil
		}
		if n == 0 {
			break
		}
		s.Check(f)
		off += n
	}
	s.buf = append(s.buf[:0], s.buf[off:]...)
	return len(p), nil
}

// Partial reports bytes of an incomplete frame left at the end, which is
// a truncation if the stream has ended.
func (s *Stream) Partial() int { return len(s.buf) }
