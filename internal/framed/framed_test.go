//go:build linux

package framed_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/socketkit/socketkit/internal/framed"
)

func stream(id uint64, seqs []uint32, size int) []byte {
	var b []byte
	for _, s := range seqs {
		b = framed.Append(b, id, s, size)
	}
	return b
}

// TestTally: each kind of damage is counted as what it is.
func TestTally(t *testing.T) {
	flip := func(b []byte, i int) []byte { b = bytes.Clone(b); b[i] ^= 0x40; return b }
	one := framed.HeaderSize + 10
	cases := []struct {
		name  string
		bytes []byte
		sent  uint32
		want  framed.Tally
	}{
		{"in order", stream(7, []uint32{0, 1, 2}, 10), 3, framed.Tally{OK: 3, Bytes: 30}},
		{"lost in the middle", stream(7, []uint32{0, 2}, 10), 3, framed.Tally{OK: 2, Lost: 1, Bytes: 20}},
		{"lost at the end", stream(7, []uint32{0}, 10), 3, framed.Tally{OK: 1, Lost: 2, Bytes: 10}},
		{"duplicated", stream(7, []uint32{0, 1, 1, 2}, 10), 3, framed.Tally{OK: 3, Duplicated: 1, Bytes: 30}},
		{"reordered", stream(7, []uint32{1, 0, 2}, 10), 3, framed.Tally{OK: 2, Lost: 1, Duplicated: 1, Bytes: 20}},
		{"payload bit flipped", flip(stream(7, []uint32{0, 1}, 10), one+framed.HeaderSize+3), 2, framed.Tally{OK: 1, Corrupt: 1, Lost: 1, Bytes: 10}},
		{"other connection", stream(8, []uint32{0}, 10), 1, framed.Tally{Corrupt: 1, Lost: 1}},
		{"not a frame", []byte("hello, world, this is not framed"), 1, framed.Tally{Corrupt: 1, Lost: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Delivered a byte at a time and all at once: the same tally.
			for _, piece := range []int{1, len(tc.bytes)} {
				s := &framed.Stream{Checker: framed.Checker{ID: 7}}
				for off := 0; off < len(tc.bytes); off += piece {
					s.Write(tc.bytes[off:min(off+piece, len(tc.bytes))])
				}
				s.Missing(tc.sent)
				if s.T != tc.want {
					t.Errorf("pieces of %d: %v, want %v", piece, s.T, tc.want)
				}
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good := framed.Append(nil, 1, 0, 4)
	long := bytes.Clone(good)
	long[16], long[17] = 0xff, 0xff // a length far over MaxPayload
	for name, b := range map[string][]byte{"magic": []byte("XKF1........................"), "length": long} {
		if _, _, err := framed.Decode(b); !errors.Is(err, framed.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	if f, n, err := framed.Decode(good[:10]); err != nil || n != 0 || f.Payload != nil {
		t.Errorf("partial frame: %v %d %v", f, n, err)
	}
}

// FuzzFrameDecoder: any bytes: no panic, the bytes used are within the
// input, and a frame that decodes re-encodes to the same bytes.
func FuzzFrameDecoder(f *testing.F) {
	f.Add(framed.Append(nil, 1, 0, 0))
	f.Add(framed.Append(framed.Append(nil, 42, 7, 100), 42, 8, 3))
	f.Add([]byte("SKF1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := framed.Decode(b)
		if err != nil {
			if n != 0 || !errors.Is(err, framed.ErrCorrupt) {
				t.Fatalf("error %v with n=%d", err, n)
			}
			return
		}
		if n < 0 || n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		if n > 0 && framed.Verify(fr) == nil {
			again := framed.Append(nil, fr.ID, fr.Seq, len(fr.Payload))
			if !bytes.Equal(again, b[:n]) {
				t.Fatalf("re-encoded frame differs")
			}
		}
		s := &framed.Stream{}
		s.Write(b) // never fails, never panics
	})
}
