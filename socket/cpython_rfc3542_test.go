//go:build linux

package socket_test

// The port of CPython 3.11's RFC3542AncillaryTest (Lib/test/test_socket.py),
// run there as Recvmsg[Into]RFC3542AncillaryUDP6Test and ...UDPLITE6Test:
// IPv6 hop limit and traffic class as ancillary data, sent with Sendmsg and
// received with Recvmsg into buffers of every awkward size.

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/socket"
)

const (
	hopLimit     = 2  // RFC3542AncillaryTest.hop_limit
	trafficClass = -1 // RFC3542AncillaryTest.traffic_class: the kernel's default
)

var rfc3542Kinds = []msgKind{dgramMsgKinds[1], dgramMsgKinds[3]} // UDP6, UDPLITE6

func runRFC3542(t *testing.T, f func(t *testing.T, p *msgPair)) {
	loop6(t)
	runKinds(t, "RecvmsgRFC3542Ancillary", rfc3542Kinds, f)
}

func intData(v int) []byte { return binary.NativeEndian.AppendUint32(nil, uint32(int32(v))) }

// enable asks the server's socket for the hop limit (and the traffic
// class) of what it receives, as the server half does before it lets the
// client send (misc_event).
func (p *msgPair) enable(t *testing.T, tclass bool) {
	t.Helper()
	if err := p.serv.SetsockoptInt(socket.SOL_IPV6, unix.IPV6_RECVHOPLIMIT, 1); err != nil {
		t.Fatal(err)
	}
	if tclass {
		if err := p.serv.SetsockoptInt(socket.SOL_IPV6, socket.IPV6_RECVTCLASS, 1); err != nil {
			t.Fatal(err)
		}
	}
}

// checkInt checks a 4-byte ancillary int between 0 and max.
func checkInt(t *testing.T, data []byte, max int) {
	t.Helper()
	if len(data) != 4 {
		t.Fatalf("ancillary int of %d bytes", len(data))
	}
	if v := int(int32(binary.NativeEndian.Uint32(data))); v < 0 || v > max {
		t.Fatalf("ancillary value %d; want 0 to %d", v, max)
	}
}

// checkHopLimit is RFC3542AncillaryTest.checkHopLimit.
func checkHopLimit(t *testing.T, p *msgPair, ancbufsize, maxhop int, ignore socket.MsgFlag) {
	t.Helper()
	r := doRecvmsg(t, p.serv, len(pyMSG), ancbufsize, 0)
	if !bytes.Equal(r.msg, pyMSG) {
		t.Fatalf("msg %q", r.msg)
	}
	p.checkAddr(t, r.addr)
	p.checkFlags(t, r.flags, eorTrue, 0, socket.MSG_CTRUNC, ignore)
	if len(r.ancdata) != 1 || r.ancdata[0].Level != socket.SOL_IPV6 || r.ancdata[0].Type != unix.IPV6_HOPLIMIT {
		t.Fatalf("ancdata %+v; want one IPV6_HOPLIMIT", r.ancdata)
	}
	checkInt(t, r.ancdata[0].Data, maxhop)
}

func TestRFC3542AncillaryTest_testRecvHopLimit(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		p.enable(t, false)
		p.sendToServer(t, pyMSG)
		checkHopLimit(t, p, 10240, 255, 0)
	})
}

func TestRFC3542AncillaryTest_testRecvHopLimitCMSG_SPACE(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		p.enable(t, false)
		p.sendToServer(t, pyMSG)
		checkHopLimit(t, p, socket.CmsgSpace(4), 255, 0)
	})
}

func TestRFC3542AncillaryTest_testSetHopLimit(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		p.enable(t, false)
		oob := socket.AppendControlMessage(nil, socket.SOL_IPV6, unix.IPV6_HOPLIMIT, intData(hopLimit))
		if n, err := p.sendmsgToServer([][]byte{pyMSG}, oob, 0); err != nil || n != len(pyMSG) {
			t.Fatalf("Sendmsg = %d, %v", n, err)
		}
		checkHopLimit(t, p, 10240, hopLimit, 0)
	})
}

// checkTrafficClassAndHopLimit is
// RFC3542AncillaryTest.checkTrafficClassAndHopLimit.
func checkTrafficClassAndHopLimit(t *testing.T, p *msgPair, ancbufsize, maxhop int, ignore socket.MsgFlag) {
	t.Helper()
	r := doRecvmsg(t, p.serv, len(pyMSG), ancbufsize, 0)
	if !bytes.Equal(r.msg, pyMSG) {
		t.Fatalf("msg %q", r.msg)
	}
	p.checkAddr(t, r.addr)
	p.checkFlags(t, r.flags, eorTrue, 0, socket.MSG_CTRUNC, ignore)
	if len(r.ancdata) != 2 {
		t.Fatalf("ancdata %+v; want two items", r.ancdata)
	}
	seen := map[int][]byte{}
	for _, m := range r.ancdata {
		if m.Level != socket.SOL_IPV6 || seen[m.Type] != nil {
			t.Fatalf("ancdata %+v", r.ancdata)
		}
		seen[m.Type] = m.Data
	}
	tc, hl := seen[socket.IPV6_TCLASS], seen[unix.IPV6_HOPLIMIT]
	if tc == nil || hl == nil {
		t.Fatalf("ancdata %+v; want IPV6_TCLASS and IPV6_HOPLIMIT", r.ancdata)
	}
	checkInt(t, tc, 255)
	checkInt(t, hl, maxhop)
}

func TestRFC3542AncillaryTest_testRecvTrafficClassAndHopLimit(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		p.enable(t, true)
		p.sendToServer(t, pyMSG)
		checkTrafficClassAndHopLimit(t, p, 10240, 255, 0)
	})
}

func TestRFC3542AncillaryTest_testRecvTrafficClassAndHopLimitCMSG_SPACE(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		p.enable(t, true)
		p.sendToServer(t, pyMSG)
		checkTrafficClassAndHopLimit(t, p, 2*socket.CmsgSpace(4), 255, 0)
	})
}

func TestRFC3542AncillaryTest_testSetTrafficClassAndHopLimit(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		p.enable(t, true)
		oob := socket.AppendControlMessage(nil, socket.SOL_IPV6, socket.IPV6_TCLASS, intData(trafficClass))
		oob = socket.AppendControlMessage(oob, socket.SOL_IPV6, unix.IPV6_HOPLIMIT, intData(hopLimit))
		if n, err := p.sendmsgToServer([][]byte{pyMSG}, oob, 0); err != nil || n != len(pyMSG) {
			t.Fatalf("Sendmsg = %d, %v", n, err)
		}
		checkTrafficClassAndHopLimit(t, p, 10240, hopLimit, 0)
	})
}

func TestRFC3542AncillaryTest_testOddCmsgSize(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		p.enable(t, true)
		// The first item one byte too long; if the kernel refuses it, send
		// the right size and check the second item was handled.
		oob := socket.AppendControlMessage(nil, socket.SOL_IPV6, socket.IPV6_TCLASS, append(intData(trafficClass), 0))
		oob = socket.AppendControlMessage(oob, socket.SOL_IPV6, unix.IPV6_HOPLIMIT, intData(hopLimit))
		if _, err := p.sendmsgToServer([][]byte{pyMSG}, oob, 0); err != nil {
			oob = socket.AppendControlMessage(nil, socket.SOL_IPV6, socket.IPV6_TCLASS, intData(trafficClass))
			oob = socket.AppendControlMessage(oob, socket.SOL_IPV6, unix.IPV6_HOPLIMIT, intData(hopLimit))
			if n, err := p.sendmsgToServer([][]byte{pyMSG}, oob, 0); err != nil || n != len(pyMSG) {
				t.Fatalf("Sendmsg = %d, %v", n, err)
			}
		}
		checkTrafficClassAndHopLimit(t, p, 10240, hopLimit, 0)
	})
}

// checkHopLimitTruncatedHeader is
// RFC3542AncillaryTest.checkHopLimitTruncatedHeader: a buffer too small for
// a header gives MSG and no ancillary data, with MSG_CTRUNC.
func checkHopLimitTruncatedHeader(t *testing.T, p *msgPair, ancbufsize int, ignore socket.MsgFlag) {
	t.Helper()
	p.enable(t, false)
	p.sendToServer(t, pyMSG)
	r := doRecvmsg(t, p.serv, len(pyMSG), ancbufsize, 0)
	if !bytes.Equal(r.msg, pyMSG) || len(r.ancdata) != 0 {
		t.Fatalf("msg %q ancdata %+v", r.msg, r.ancdata)
	}
	p.checkAddr(t, r.addr)
	p.checkFlags(t, r.flags, eorTrue, socket.MSG_CTRUNC, 0, ignore)
}

func TestRFC3542AncillaryTest_testCmsgTruncNoBufSize(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) { checkHopLimitTruncatedHeader(t, p, 0, socket.MSG_CTRUNC) })
}

func TestRFC3542AncillaryTest_testSingleCmsgTrunc0(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) { checkHopLimitTruncatedHeader(t, p, 0, socket.MSG_CTRUNC) })
}

func TestRFC3542AncillaryTest_testSingleCmsgTrunc1(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) { checkHopLimitTruncatedHeader(t, p, 1, 0) })
}

func TestRFC3542AncillaryTest_testSingleCmsgTrunc2Int(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) { checkHopLimitTruncatedHeader(t, p, 2*4, 0) })
}

func TestRFC3542AncillaryTest_testSingleCmsgTruncLen0Minus1(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) { checkHopLimitTruncatedHeader(t, p, socket.CmsgLen(0)-1, 0) })
}

func TestRFC3542AncillaryTest_testSingleCmsgTruncInData(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		p.enable(t, false)
		p.sendToServer(t, pyMSG)
		r := doRecvmsg(t, p.serv, len(pyMSG), socket.CmsgLen(4)-1, 0)
		if !bytes.Equal(r.msg, pyMSG) {
			t.Fatalf("msg %q", r.msg)
		}
		p.checkAddr(t, r.addr)
		p.checkFlags(t, r.flags, eorTrue, socket.MSG_CTRUNC, 0, 0)
		if len(r.ancdata) > 1 {
			t.Fatalf("ancdata %+v", r.ancdata)
		}
		for _, m := range r.ancdata {
			if m.Level != socket.SOL_IPV6 || m.Type != unix.IPV6_HOPLIMIT || len(m.Data) >= 4 {
				t.Fatalf("truncated item %+v", m)
			}
		}
	})
}

// checkTruncatedSecondHeader is
// RFC3542AncillaryTest.checkTruncatedSecondHeader: room for the first item
// but not the second's header.
func checkTruncatedSecondHeader(t *testing.T, p *msgPair, ancbufsize int, ignore socket.MsgFlag) {
	t.Helper()
	p.enable(t, true)
	p.sendToServer(t, pyMSG)
	r := doRecvmsg(t, p.serv, len(pyMSG), ancbufsize, 0)
	if !bytes.Equal(r.msg, pyMSG) {
		t.Fatalf("msg %q", r.msg)
	}
	p.checkAddr(t, r.addr)
	p.checkFlags(t, r.flags, eorTrue, socket.MSG_CTRUNC, 0, ignore)
	if len(r.ancdata) != 1 {
		t.Fatalf("ancdata %+v; want one item", r.ancdata)
	}
	m := r.ancdata[0]
	if m.Level != socket.SOL_IPV6 || (m.Type != socket.IPV6_TCLASS && m.Type != unix.IPV6_HOPLIMIT) {
		t.Fatalf("item %+v", m)
	}
	checkInt(t, m.Data, 255)
}

func TestRFC3542AncillaryTest_testSecondCmsgTrunc0(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		checkTruncatedSecondHeader(t, p, socket.CmsgSpace(4), socket.MSG_CTRUNC)
	})
}

func TestRFC3542AncillaryTest_testSecondCmsgTrunc1(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) { checkTruncatedSecondHeader(t, p, socket.CmsgSpace(4)+1, 0) })
}

func TestRFC3542AncillaryTest_testSecondCmsgTrunc2Int(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) { checkTruncatedSecondHeader(t, p, socket.CmsgSpace(4)+2*4, 0) })
}

func TestRFC3542AncillaryTest_testSecondCmsgTruncLen0Minus1(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		checkTruncatedSecondHeader(t, p, socket.CmsgSpace(4)+socket.CmsgLen(0)-1, 0)
	})
}

func TestRFC3542AncillaryTest_testSecondCmsgTruncInData(t *testing.T) {
	runRFC3542(t, func(t *testing.T, p *msgPair) {
		p.enable(t, true)
		p.sendToServer(t, pyMSG)
		r := doRecvmsg(t, p.serv, len(pyMSG), socket.CmsgSpace(4)+socket.CmsgLen(4)-1, 0)
		if !bytes.Equal(r.msg, pyMSG) {
			t.Fatalf("msg %q", r.msg)
		}
		p.checkAddr(t, r.addr)
		p.checkFlags(t, r.flags, eorTrue, socket.MSG_CTRUNC, 0, 0)
		types := map[int]bool{socket.IPV6_TCLASS: true, unix.IPV6_HOPLIMIT: true}
		if len(r.ancdata) == 0 || len(r.ancdata) > 2 {
			t.Fatalf("ancdata %+v", r.ancdata)
		}
		first := r.ancdata[0]
		if first.Level != socket.SOL_IPV6 || !types[first.Type] {
			t.Fatalf("first item %+v", first)
		}
		delete(types, first.Type)
		checkInt(t, first.Data, 255)
		if len(r.ancdata) == 2 {
			second := r.ancdata[1]
			if second.Level != socket.SOL_IPV6 || !types[second.Type] || len(second.Data) >= 4 {
				t.Fatalf("second item %+v; want the other type, cut short", second)
			}
		}
	})
}
