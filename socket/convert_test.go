//go:build linux

package socket_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/socketkit/socketkit/socket"
)

// inetAtonCases are what glibc's inet_aton (through python3's
// socket.inet_aton on Debian, glibc 2.36) returns; "" means it rejects the
// string. TestInetAtonMatchesPython checks them against python3 again.
var inetAtonCases = []struct{ in, want string }{
	{"0x", ""}, {"0x.1.1.1", ""}, {"1.2.3.4 ", "1.2.3.4"}, {"1.2.3.4\tjunk", "1.2.3.4"},
	{"1.2.3.4 junk", "1.2.3.4"}, {"1.2.3", "1.2.0.3"}, {"0x7f.1", "127.0.0.1"}, {"127.1", "127.0.0.1"},
	{"08", ""}, {"0x1F", "0.0.0.31"}, {"1.2.3.4.", ""}, {"1.", ""}, {"", ""}, {"1..2", ""},
	{"4294967295", "255.255.255.255"}, {"4294967296", ""}, {"99999999999999999999", ""},
	{"1.2.3.256", ""}, {"1.16777215", "1.255.255.255"}, {"1.16777216", ""},
	{"0xffffffff", "255.255.255.255"}, {"00000000000000000000000000001", "0.0.0.1"}, {"0xg", ""},
	{"1.2.3.4\n", "1.2.3.4"}, {"1.2.3.4\v", "1.2.3.4"}, {"1.2.3.4\f", "1.2.3.4"}, {"1.2.3.4\r", "1.2.3.4"},
	{" 1.2.3.4", ""}, {"+1", ""}, {"1.+2", ""}, {"-1", ""}, {"0x0000000000000000000000001", "0.0.0.1"},
	{"1.2.3.0x", ""}, {"0.0.0.0", "0.0.0.0"}, {"1 2", "0.0.0.1"}, {"0x1.0x2.0x3.0x4", "1.2.3.4"},
	{"017.1.1.1", "15.1.1.1"}, {"1.2.3.4\x1c", ""}, {"1.2.3.4x", ""}, {"1.2.3.-4", ""}, {"0x100.1", ""},
	{"1.0x10000", "1.1.0.0"}, {"1.1.0x10000", ""}, {"1.1.0xffff", "1.1.255.255"}, {"0XfF.1", "255.0.0.1"},
	{"09", ""}, {"0.0.0.08", ""}, {"1.2.3.4..", ""}, {"a", ""}, {"1.2.3.4\x7f", ""}, {"1.2.3.4.5", ""},
	{"256.1.1.1", ""}, {"1.2.3.4 5.6", "1.2.3.4"}, {"0x.", ""}, {"0x1.", ""}, {"1.2.3.4\t", "1.2.3.4"},
	{"1.1.1.1 \x01", "1.1.1.1"}, {"18446744073709551616", ""}, {"18446744073709551615", ""},
	{"0x1ffffffff", ""}, {"037777777777", "255.255.255.255"}, {"040000000000", ""}, {"1\n.2", "0.0.0.1"},
	{"127.0.0.1", "127.0.0.1"}, {"10.1.257", "10.1.1.1"}, {"2130706433", "127.0.0.1"}, {"a.b.c.d", ""},
	{"1.2.3.4\xc2\x85", ""}, {"1.2.3.4\xa0", ""},
}

func TestInetAton(t *testing.T) {
	for _, tc := range inetAtonCases {
		b, err := socket.InetAton(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("InetAton(%q) = %v; glibc rejects it", tc.in, socket.InetNtoa(b))
		case tc.want == "" && !errors.Is(err, syscall.EINVAL):
			t.Errorf("InetAton(%q) error %v does not match EINVAL", tc.in, err)
		case tc.want != "" && (err != nil || socket.InetNtoa(b) != tc.want):
			t.Errorf("InetAton(%q) = %v, %v; want %s", tc.in, socket.InetNtoa(b), err, tc.want)
		}
	}
	// Python rejects an embedded NUL before inet_aton sees it (ValueError);
	// C would stop reading there.
	for _, s := range []string{"1.2.3.4\x00", "1.2.3.4\x00junk", "\x00"} {
		if _, err := socket.InetAton(s); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("InetAton(%q) = %v; want EINVAL", s, err)
		}
	}
}

// inetNtop6Cases are what glibc's inet_ntop writes (python3's
// socket.inet_ntop on this machine), given as the packed address's text in
// any form inet_pton reads.
var inetNtop6Cases = []struct{ in, want string }{
	{"::1.2.3.4", "::1.2.3.4"}, {"::ffff:1.2.3.4", "::ffff:1.2.3.4"}, {"::2", "::2"}, {"::1", "::1"},
	{"::", "::"}, {"::0.0.1.2", "::102"}, {"::ffff:0:1.2.3.4", "::ffff:0:102:304"},
	{"::ffff:0.0.0.0", "::ffff:0.0.0.0"}, {"::fffe:1.2.3.4", "::fffe:102:304"}, {"1::", "1::"},
	{"::1:0:0", "::1:0:0"}, {"0:0:0:0:1:ffff:1.2.3.4", "::1:ffff:102:304"},
	{"64:ff9b::1.2.3.4", "64:ff9b::102:304"}, {"::1:1.2.3.4", "::1:102:304"},
	{"1:0:0:2::3", "1:0:0:2::3"}, {"1:0:0:0:2:0:0:3", "1::2:0:0:3"}, {"1:2:3:4:5:6:7:0", "1:2:3:4:5:6:7:0"},
	{"::0.1.0.0", "::0.1.0.0"}, {"::255.255.0.0", "::255.255.0.0"}, {"::ffff", "::ffff"},
	{"::ffff:0.0.0.1", "::ffff:0.0.0.1"}, {"1:0:2:0:3:0:4:0", "1:0:2:0:3:0:4:0"},
	{"fe80::1", "fe80::1"}, {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"}, {"A:B:C:D:E:F:0:0", "a:b:c:d:e:f::"},
}

func TestInetNtop(t *testing.T) {
	for _, tc := range inetNtop6Cases {
		b, err := socket.InetPton(socket.AF_INET6, tc.in)
		if err != nil {
			t.Fatalf("InetPton(%q): %v", tc.in, err)
		}
		if got, err := socket.InetNtop(socket.AF_INET6, b); err != nil || got != tc.want {
			t.Errorf("InetNtop(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	if got, err := socket.InetNtop(socket.AF_INET, []byte{1, 2, 3, 4}); err != nil || got != "1.2.3.4" {
		t.Errorf("InetNtop(AF_INET) = %q, %v", got, err)
	}
}

// python3 returns the path of the python3 interpreter, or skips (fails
// under CI, which installs it).
func python3(t testing.TB) string {
	t.Helper()
	p, err := python3Path()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is missing; .ci/run installs it")
		}
		t.Skip("python3 not installed")
	}
	return p
}

// python3Path finds python3 once, and the interpreter itself behind it:
// a version manager's shim (pyenv) takes seconds to start where the
// interpreter takes a tenth of one.
var python3Path = sync.OnceValues(func() (string, error) {
	p, err := exec.LookPath("python3")
	if err != nil {
		return "", err
	}
	out, err := exec.Command(p, "-c", "import sys; print(sys.executable)").Output()
	if exe := strings.TrimSpace(string(out)); err == nil && exe != "" {
		return exe, nil
	}
	return p, nil
})

// pythonLines runs a python3 script once, feeding it one hex-encoded input
// per line, and returns its output lines.
func pythonLines(t testing.TB, script string, inputs []string) []string {
	t.Helper()
	var in bytes.Buffer
	for _, s := range inputs {
		in.WriteString(hex.EncodeToString([]byte(s)) + "\n")
	}
	cmd := exec.Command(python3(t), "-c", script)
	cmd.Stdin = &in
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) != len(inputs) {
		t.Fatalf("python3 answered %d lines for %d inputs", len(lines), len(inputs))
	}
	return lines
}

// TestInetAtonMatchesPython asks python3 (glibc's inet_aton) about the
// table and about random strings built from the characters that matter.
func TestInetAtonMatchesPython(t *testing.T) {
	var inputs []string
	for _, tc := range inetAtonCases {
		inputs = append(inputs, tc.in)
	}
	r := rand.New(rand.NewPCG(9, 4))
	const alphabet = "0123456789xXaAfFgG.. \t\n+-\x00\x85"
	for range 3000 {
		b := make([]byte, 1+r.IntN(14))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		inputs = append(inputs, string(b))
	}
	lines := pythonLines(t, `
import socket, sys
for line in sys.stdin:
    s = bytes.fromhex(line.strip()).decode('latin-1')
    try:
        print(socket.inet_ntoa(socket.inet_aton(s)))
    except (OSError, ValueError):
        print('-')
`, inputs)
	for i, s := range inputs {
		want := lines[i]
		b, err := socket.InetAton(s)
		got := "-"
		if err == nil {
			got = socket.InetNtoa(b)
		}
		// Python encodes a str as UTF-8 before inet_aton sees it, so a
		// byte >= 0x80 (latin-1 decoded here) reaches glibc as two bytes;
		// both are non-ASCII and rejected the same way.
		if got != want {
			t.Errorf("InetAton(%q) = %s; python3 says %s", s, got, want)
		}
	}
}

// TestInetNtopMatchesPython compares InetNtop with glibc's inet_ntop on
// addresses made mostly of zero groups, where the forms differ.
func TestInetNtopMatchesPython(t *testing.T) {
	var inputs []string
	r := rand.New(rand.NewPCG(9, 6))
	for range 3000 {
		var a [16]byte
		for i := 0; i < 8; i++ {
			switch r.IntN(4) {
			case 0:
				binary.BigEndian.PutUint16(a[2*i:], uint16(r.IntN(0x10000)))
			case 1:
				binary.BigEndian.PutUint16(a[2*i:], []uint16{1, 0xffff, 0xfffe, 0x100}[r.IntN(4)])
			}
		}
		inputs = append(inputs, string(a[:]))
	}
	lines := pythonLines(t, `
import socket, sys
for line in sys.stdin:
    print(socket.inet_ntop(socket.AF_INET6, bytes.fromhex(line.strip())))
`, inputs)
	for i, s := range inputs {
		got, err := socket.InetNtop(socket.AF_INET6, []byte(s))
		if err != nil || got != lines[i] {
			t.Errorf("InetNtop(%x) = %q, %v; python3 says %q", s, got, err, lines[i])
		}
	}
}

// inetAtonRule is inet_aton's grammar written a second way, as the fuzz
// target's reference: the text up to the first C whitespace must be one to
// four parts joined by '.', each part a C integer (0x hex, 0 octal,
// decimal) with no sign; all but the last fit a byte and the last fills the
// bytes left.
func inetAtonRule(s string) (netip.Addr, bool) {
	if strings.IndexByte(s, 0) >= 0 {
		return netip.Addr{}, false
	}
	head := s
	if i := strings.IndexAny(s, " \t\n\v\f\r"); i >= 0 {
		head = s[:i]
	}
	parts := strings.Split(head, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		if !cInteger.MatchString(p) {
			return netip.Addr{}, false
		}
		base, digits := 10, p
		switch {
		case len(p) > 1 && (p[1] == 'x' || p[1] == 'X'):
			base, digits = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base = 8
		}
		v, err := strconv.ParseUint(digits, base, 64)
		if err != nil || v > 0xffffffff {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, uint32(n|last)))), true
}

var cInteger = regexp.MustCompile(`^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$`)

// FuzzInetAton: InetAton agrees with inetAtonRule on every input, and what
// it accepts prints back (InetNtoa) to a string it reads the same.
func FuzzInetAton(f *testing.F) {
	for _, tc := range inetAtonCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := socket.InetAton(s)
		want, ok := inetAtonRule(s)
		if ok != (err == nil) || (ok && netip.AddrFrom4(b) != want) {
			t.Fatalf("InetAton(%q) = %v, %v; the rules say %v, %v", s, netip.AddrFrom4(b), err, want, ok)
		}
		if err != nil {
			var ae *socket.AddrError
			if !errors.As(err, &ae) || !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("InetAton(%q) error %T %v", s, err, err)
			}
			return
		}
		if again, err := socket.InetAton(socket.InetNtoa(b)); err != nil || again != b {
			t.Fatalf("InetAton(InetNtoa(%v)) = %v, %v", b, again, err)
		}
	})
}

// FuzzInetNtop: InetNtop(AF_INET6) writes what netip writes (RFC 5952,
// which agrees with glibc), except that an IPv4-compatible address
// (::a.b.c.d, 96 zero bits then a nonzero seventh group) ends in dotted
// IPv4 as glibc writes it; and what it writes reads back to the same bytes.
func FuzzInetNtop(f *testing.F) {
	for _, tc := range inetNtop6Cases {
		a := netip.MustParseAddr(tc.in).As16()
		f.Add(a[:])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := socket.InetNtop(socket.AF_INET6, b)
		if len(b) != 16 {
			if !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("InetNtop(%d bytes) = %q, %v", len(b), s, err)
			}
			return
		}
		a := [16]byte(b)
		want := netip.AddrFrom16(a).String()
		if [12]byte(a[:12]) == ([12]byte{}) && (a[12] != 0 || a[13] != 0) {
			want = "::" + netip.AddrFrom4([4]byte(a[12:])).String()
		}
		if err != nil || s != want {
			t.Fatalf("InetNtop(%x) = %q, %v; want %q", b, s, err, want)
		}
		back, err := socket.InetPton(socket.AF_INET6, s)
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("InetPton(%q) = %x, %v; want %x", s, back, err, b)
		}
	})
}

func TestConversions(t *testing.T) {
	if socket.Htons(0x1234) != 0x3412 || socket.Ntohs(socket.Htons(6254)) != 6254 {
		t.Fatal("Htons")
	}
	if socket.Htonl(0x01020304) != 0x04030201 || socket.Ntohl(socket.Htonl(7)) != 7 {
		t.Fatal("Htonl")
	}
	aton := map[string]string{"127.0.0.1": "127.0.0.1", "127.1": "127.0.0.1", "10.1.257": "10.1.1.1",
		"0x7f.1": "127.0.0.1", "2130706433": "127.0.0.1", "017.0.0.1": "15.0.0.1"}
	for in, want := range aton {
		b, err := socket.InetAton(in)
		if err != nil || socket.InetNtoa(b) != want {
			t.Errorf("InetAton(%q) = %v, %v; want %s", in, socket.InetNtoa(b), err, want)
		}
	}
	for _, bad := range []string{"", "1.2.3.4.5", "256.1.1.1", "a.b.c.d", "1..2", "1.2.3.256"} {
		if _, err := socket.InetAton(bad); !errors.Is(err, syscall.EINVAL) {
			t.Errorf("InetAton(%q) = %v", bad, err)
		}
	}
	b, err := socket.InetPton(socket.AF_INET6, "::1")
	if err != nil || len(b) != 16 || b[15] != 1 {
		t.Fatalf("InetPton(::1) = %v, %v", b, err)
	}
	if s, err := socket.InetNtop(socket.AF_INET6, b); err != nil || s != "::1" {
		t.Fatalf("InetNtop = %q, %v", s, err)
	}
	if _, err := socket.InetPton(socket.AF_INET, "127.1"); err == nil {
		t.Fatal("InetPton accepted the legacy form")
	}
	if _, err := socket.InetPton(socket.AF_INET6, "1.2.3.4"); err == nil {
		t.Fatal("InetPton(AF_INET6, v4) accepted")
	}
	if _, err := socket.InetPton(socket.AF_UNIX, "x"); !errors.Is(err, syscall.EAFNOSUPPORT) {
		t.Fatalf("InetPton(AF_UNIX) = %v", err)
	}
	if _, err := socket.InetNtop(socket.AF_INET, []byte{1, 2, 3}); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("InetNtop(3 bytes) = %v", err)
	}
}
