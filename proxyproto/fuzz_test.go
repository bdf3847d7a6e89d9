package proxyproto_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/socketkit/socketkit/proxyproto"
)

// onlyReader hides everything but Read: ReadHeader's path for readers
// without a descriptor.
type onlyReader struct{ io.Reader }

// checkParse holds for any input: Parse and ReadHeader agree, a header
// parses the same alone and after a round trip through Format, and a
// failure is one of the package's errors.
func checkParse(t *testing.T, b []byte) {
	h, n, err := proxyproto.Parse(b)
	r := bytes.NewReader(b)
	rh, rerr := proxyproto.ReadHeader(onlyReader{r})
	switch {
	case err == nil:
		if n <= 0 || n > len(b) {
			t.Fatalf("Parse took %d of %d bytes", n, len(b))
		}
		if rerr != nil || !sameHeader(rh, h) {
			t.Fatalf("ReadHeader = %v, %v; Parse = %v", rh, rerr, h)
		}
		if r.Len() != len(b)-n {
			t.Fatalf("ReadHeader left %d bytes, Parse says the header is %d of %d", r.Len(), n, len(b))
		}
		if h2, n2, err2 := proxyproto.Parse(b[:n]); err2 != nil || n2 != n || !sameHeader(h2, h) {
			t.Fatalf("the header alone: %v, %d, %v", h2, n2, err2)
		}
		out, ferr := h.Format()
		if ferr != nil {
			t.Fatalf("Format of a parsed header %v: %v", h, ferr)
		}
		h3, n3, err3 := proxyproto.Parse(out)
		if err3 != nil || n3 != len(out) {
			t.Fatalf("Parse(Format()) = %d of %d, %v", n3, len(out), err3)
		}
		// Format computes a fresh checksum (a Local header's zeroed
		// addresses differ from what came in); compare the rest.
		for _, x := range []*proxyproto.Header{h, h3} {
			for i := range x.TLVs {
				if x.TLVs[i].Type == proxyproto.TypeCRC32C {
					x.TLVs[i].Value = nil
				}
			}
		}
		if !sameHeader(h3, h) {
			t.Fatalf("round trip: %v became %v", h, h3)
		}
	case errors.Is(err, proxyproto.ErrIncomplete):
		if h != nil || n != 0 {
			t.Fatalf("incomplete, yet %v, %d", h, n)
		}
		if !errors.Is(rerr, io.ErrUnexpectedEOF) && !(len(b) == 0 && rerr == io.EOF) {
			t.Fatalf("Parse: incomplete; ReadHeader: %v", rerr)
		}
	case errors.Is(err, proxyproto.ErrNoHeader), errors.Is(err, proxyproto.ErrInvalid):
		if h != nil || n != 0 {
			t.Fatalf("%v, yet %v, %d", err, h, n)
		}
		// ReadHeader waits for the 15 bytes of the shortest header before
		// it judges a version 1 line.
		short := len(b) < 15 && errors.Is(rerr, io.ErrUnexpectedEOF)
		if !short && (errors.Is(err, proxyproto.ErrNoHeader) != errors.Is(rerr, proxyproto.ErrNoHeader) ||
			errors.Is(err, proxyproto.ErrInvalid) != errors.Is(rerr, proxyproto.ErrInvalid)) {
			t.Fatalf("Parse: %v; ReadHeader: %v", err, rerr)
		}
	default:
		t.Fatalf("Parse: an error of no known kind: %v", err)
	}
}

// FuzzProxyV1 starts from version 1 lines; the corpus is in
// testdata/fuzz/FuzzProxyV1.
func FuzzProxyV1(f *testing.F) {
	for _, s := range []string{
		"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET /",
		"PROXY TCP6 2001:db8::1 ::1 0 65535\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN 1 2 3 4\r\n",
		"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
		"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",
		"PROXY TCP4 ::ffff:1.2.3.4 1.2.3.4 1 2\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkParse)
}

// FuzzProxyV2 starts from version 2 headers, HAProxy's among them; the
// corpus is in testdata/fuzz/FuzzProxyV2.
func FuzzProxyV2(f *testing.F) {
	f.Add(haproxyLocal)
	f.Add(append(bytes.Clone(haproxyTCP4), "hello via haproxy\n"...))
	for _, h := range []proxyproto.Header{
		{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.TCP6, Source: tcp("[::1]:37636"), Destination: tcp("[::1]:9100"),
			TLVs: []proxyproto.TLV{{Type: proxyproto.TypeUniqueID, Value: []byte("id")}, {Type: proxyproto.TypeCRC32C, Value: make([]byte, 4)}}},
		{Version: 2, Command: proxyproto.Proxy, Transport: proxyproto.UnixStream,
			Source: unixAddr("@client"), Destination: unixAddr("/run/app.sock")},
		{Version: 2, Command: proxyproto.Local, Transport: proxyproto.UDP4},
	} {
		b, err := h.Format()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(checkParse)
}
