//go:build linux

package socket_test

// The port of CPython 3.11's SCMRightsTest (run there as
// RecvmsgSCMRightsStreamTest and RecvmsgIntoSCMRightsStreamTest, over a
// Unix stream) and SendRecvFdsTests (Lib/test/test_socket.py).

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// badfd is SCMRightsTest.badfd: a descriptor number that is never valid.
const badfd = -0x5555

// scmPair is SCMRightsTest's fixture: a connected Unix stream with a timeout
// on the receiving end.
func scmPair(t *testing.T) *msgPair {
	t.Helper()
	sockettest.LeakCheck(t)
	return streamMsgKinds[1].setup(t)
}

// newFDs is SCMRightsTest.newFDs: n open files, file i holding "i".
func newFDs(t *testing.T, n int) []int {
	t.Helper()
	var fds []int
	for i := range n {
		f, err := os.CreateTemp(t.TempDir(), "fd")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		f.WriteString(strconv.Itoa(i))
		fds = append(fds, int(f.Fd()))
	}
	return fds
}

// checkFDs is SCMRightsTest.checkFDs: descriptor i reads "i" from the start.
func checkFDs(t *testing.T, fds []int) {
	t.Helper()
	for i, fd := range fds {
		if _, err := syscall.Seek(fd, 0, io.SeekStart); err != nil {
			t.Fatalf("lseek(%d): %v", fd, err)
		}
		buf := make([]byte, 1024)
		n, err := syscall.Read(fd, buf)
		if err != nil || string(buf[:n]) != strconv.Itoa(i) {
			t.Fatalf("descriptor %d of the %d received reads %q, %v", i, len(fds), buf[:max(n, 0)], err)
		}
	}
}

func rights(fds ...int) []byte {
	b := make([]byte, 4*len(fds))
	for i, fd := range fds {
		binary.NativeEndian.PutUint32(b[4*i:], uint32(int32(fd)))
	}
	return b
}

// intsOf decodes the whole ints of an SCM_RIGHTS payload.
func intsOf(b []byte) []int {
	var fds []int
	for len(b) >= 4 {
		fds = append(fds, int(int32(binary.NativeEndian.Uint32(b))))
		b = b[4:]
	}
	return fds
}

// recvFDs is doRecvmsg with SCMRightsTest.registerRecvmsgResult: the
// descriptors received are closed when the test ends.
func recvFDs(t *testing.T, p *msgPair, bufsize, ancbufsize int) recvResult {
	t.Helper()
	r := doRecvmsg(t, p.serv, bufsize, ancbufsize, 0)
	for _, m := range r.ancdata {
		if m.Level == socket.SOL_SOCKET && m.Type == socket.SCM_RIGHTS {
			for _, fd := range intsOf(m.Data) {
				t.Cleanup(func() { syscall.Close(fd) })
			}
		}
	}
	return r
}

// createAndSendFDs is SCMRightsTest.createAndSendFDs.
func createAndSendFDs(t *testing.T, p *msgPair, n int) {
	t.Helper()
	oob := socket.AppendControlMessage(nil, socket.SOL_SOCKET, socket.SCM_RIGHTS, rights(newFDs(t, n)...))
	if got, err := p.sendmsgToServer([][]byte{pyMSG}, oob, 0); err != nil || got != len(pyMSG) {
		t.Fatalf("Sendmsg = %d, %v", got, err)
	}
}

// checkRecvmsgFDs is SCMRightsTest.checkRecvmsgFDs.
func checkRecvmsgFDs(t *testing.T, p *msgPair, numfds int, r recvResult, maxcmsgs int, ignore socket.MsgFlag) {
	t.Helper()
	if !bytes.Equal(r.msg, pyMSG) {
		t.Fatalf("msg %q", r.msg)
	}
	p.checkFlags(t, r.flags, eorTrue, 0, socket.MSG_CTRUNC, ignore)
	if len(r.ancdata) > maxcmsgs {
		t.Fatalf("%d control messages; want at most %d", len(r.ancdata), maxcmsgs)
	}
	var fds []int
	for _, m := range r.ancdata {
		if m.Level != socket.SOL_SOCKET || m.Type != socket.SCM_RIGHTS || len(m.Data)%4 != 0 {
			t.Fatalf("control message %+v", m)
		}
		fds = append(fds, intsOf(m.Data)...)
	}
	if len(fds) != numfds {
		t.Fatalf("%d descriptors; want %d", len(fds), numfds)
	}
	checkFDs(t, fds)
}

// sendAncillaryIfPossible is SCMRightsTest.sendAncillaryIfPossible: if the
// kernel refuses the ancillary data, send the message without it.
func sendAncillaryIfPossible(t *testing.T, p *msgPair, oob []byte) {
	t.Helper()
	n, err := p.sendmsgToServer([][]byte{pyMSG}, oob, 0)
	if err != nil {
		if _, ok := err.(interface{ Unwrap() error }); !ok {
			t.Fatalf("Sendmsg error %T %v", err, err)
		}
		n, err = p.sendmsgToServer([][]byte{pyMSG}, nil, 0)
	}
	if err != nil || n != len(pyMSG) {
		t.Fatalf("Sendmsg = %d, %v", n, err)
	}
}

func TestSCMRightsTest_testFDPassSimple(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 1)
	checkRecvmsgFDs(t, p, 1, recvFDs(t, p, len(pyMSG), 10240), 1, 0)
}

func TestSCMRightsTest_testMultipleFDPass(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 4)
	checkRecvmsgFDs(t, p, 4, recvFDs(t, p, len(pyMSG), 10240), 1, 0)
}

func TestSCMRightsTest_testFDPassCMSG_SPACE(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 4)
	checkRecvmsgFDs(t, p, 4, recvFDs(t, p, len(pyMSG), socket.CmsgSpace(4*4)), 1, 0)
}

func TestSCMRightsTest_testFDPassCMSG_LEN(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 1)
	checkRecvmsgFDs(t, p, 1, recvFDs(t, p, len(pyMSG), socket.CmsgLen(4*4)), 1, socket.MSG_CTRUNC)
}

// sendSeparate sends two descriptors in two SCM_RIGHTS messages.
func sendSeparate(t *testing.T, p *msgPair) {
	t.Helper()
	fds := newFDs(t, 2)
	oob := socket.AppendControlMessage(nil, socket.SOL_SOCKET, socket.SCM_RIGHTS, rights(fds[0]))
	oob = socket.AppendControlMessage(oob, socket.SOL_SOCKET, socket.SCM_RIGHTS, rights(fds[1]))
	if n, err := p.sendmsgToServer([][]byte{pyMSG}, oob, 0); err != nil || n != len(pyMSG) {
		t.Fatalf("Sendmsg = %d, %v", n, err)
	}
}

func TestSCMRightsTest_testFDPassSeparate(t *testing.T) {
	p := scmPair(t)
	sendSeparate(t, p)
	checkRecvmsgFDs(t, p, 2, recvFDs(t, p, len(pyMSG), 10240), 2, 0)
}

func TestSCMRightsTest_testFDPassSeparateMinSpace(t *testing.T) {
	p := scmPair(t)
	sendSeparate(t, p)
	checkRecvmsgFDs(t, p, 2, recvFDs(t, p, len(pyMSG), socket.CmsgSpace(4)+socket.CmsgLen(4*2)), 2, socket.MSG_CTRUNC)
}

func TestSCMRightsTest_testFDPassEmpty(t *testing.T) {
	p := scmPair(t)
	sendAncillaryIfPossible(t, p, socket.AppendControlMessage(nil, socket.SOL_SOCKET, socket.SCM_RIGHTS, nil))
	checkRecvmsgFDs(t, p, 0, recvFDs(t, p, len(pyMSG), 10240), 1, socket.MSG_CTRUNC)
}

func TestSCMRightsTest_testFDPassPartialInt(t *testing.T) {
	p := scmPair(t)
	partial := rights(badfd)
	sendAncillaryIfPossible(t, p, socket.AppendControlMessage(nil, socket.SOL_SOCKET, socket.SCM_RIGHTS, partial[:3]))
	r := recvFDs(t, p, len(pyMSG), 10240)
	if !bytes.Equal(r.msg, pyMSG) {
		t.Fatalf("msg %q", r.msg)
	}
	p.checkFlags(t, r.flags, eorTrue, 0, 0, socket.MSG_CTRUNC)
	if len(r.ancdata) > 1 {
		t.Fatalf("%d control messages", len(r.ancdata))
	}
	for _, m := range r.ancdata {
		if m.Level != socket.SOL_SOCKET || m.Type != socket.SCM_RIGHTS || len(m.Data) >= 4 {
			t.Fatalf("control message %+v", m)
		}
	}
}

func TestSCMRightsTest_testFDPassPartialIntInMiddle(t *testing.T) {
	p := scmPair(t)
	fds := newFDs(t, 2)
	first := rights(fds[0], badfd)
	oob := socket.AppendControlMessage(nil, socket.SOL_SOCKET, socket.SCM_RIGHTS, first[:len(first)-1])
	oob = socket.AppendControlMessage(oob, socket.SOL_SOCKET, socket.SCM_RIGHTS, rights(fds[1]))
	sendAncillaryIfPossible(t, p, oob)
	r := recvFDs(t, p, len(pyMSG), 10240)
	if !bytes.Equal(r.msg, pyMSG) {
		t.Fatalf("msg %q", r.msg)
	}
	p.checkFlags(t, r.flags, eorTrue, 0, 0, socket.MSG_CTRUNC)
	if len(r.ancdata) > 2 {
		t.Fatalf("%d control messages", len(r.ancdata))
	}
	var got []int
	for _, m := range r.ancdata {
		if m.Level != socket.SOL_SOCKET || m.Type != socket.SCM_RIGHTS {
			t.Fatalf("control message %+v", m)
		}
		got = append(got, intsOf(m.Data)...)
	}
	if len(got) > 2 {
		t.Fatalf("%d descriptors", len(got))
	}
	checkFDs(t, got)
}

// checkTruncatedHeader is SCMRightsTest.checkTruncatedHeader: MSG arrives,
// no ancillary data, MSG_CTRUNC set (unless ignored).
func checkTruncatedHeader(t *testing.T, p *msgPair, r recvResult, ignore socket.MsgFlag) {
	t.Helper()
	if !bytes.Equal(r.msg, pyMSG) || len(r.ancdata) != 0 {
		t.Fatalf("msg %q ancdata %v", r.msg, r.ancdata)
	}
	p.checkFlags(t, r.flags, eorTrue, socket.MSG_CTRUNC, 0, ignore)
}

func TestSCMRightsTest_testCmsgTruncNoBufSize(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 1)
	checkTruncatedHeader(t, p, recvFDs(t, p, len(pyMSG), 0), socket.MSG_CTRUNC)
}

func TestSCMRightsTest_testCmsgTrunc0(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 1)
	// recvmsg(bufsize, 0): an empty control buffer, as no buffer at all.
	checkTruncatedHeader(t, p, recvFDs(t, p, len(pyMSG), 0), socket.MSG_CTRUNC)
}

func TestSCMRightsTest_testCmsgTrunc1(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 1)
	checkTruncatedHeader(t, p, recvFDs(t, p, len(pyMSG), 1), 0)
}

func TestSCMRightsTest_testCmsgTrunc2Int(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 1)
	checkTruncatedHeader(t, p, recvFDs(t, p, len(pyMSG), 2*4), 0)
}

func TestSCMRightsTest_testCmsgTruncLen0Minus1(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 1)
	checkTruncatedHeader(t, p, recvFDs(t, p, len(pyMSG), socket.CmsgLen(0)-1), 0)
}

// checkTruncatedArray is SCMRightsTest.checkTruncatedArray: MSG_CTRUNC set,
// and the descriptors cut to between mindata and maxdata bytes, the whole
// ones valid.
func checkTruncatedArray(t *testing.T, p *msgPair, ancbuf, maxdata, mindata int) {
	t.Helper()
	r := recvFDs(t, p, len(pyMSG), ancbuf)
	if !bytes.Equal(r.msg, pyMSG) {
		t.Fatalf("msg %q", r.msg)
	}
	p.checkFlags(t, r.flags, eorTrue, socket.MSG_CTRUNC, 0, 0)
	if mindata == 0 && len(r.ancdata) == 0 {
		return
	}
	if len(r.ancdata) != 1 {
		t.Fatalf("%d control messages", len(r.ancdata))
	}
	m := r.ancdata[0]
	if m.Level != socket.SOL_SOCKET || m.Type != socket.SCM_RIGHTS || len(m.Data) < mindata || len(m.Data) > maxdata {
		t.Fatalf("control message %+v; want %d to %d bytes", m, mindata, maxdata)
	}
	checkFDs(t, intsOf(m.Data))
}

func TestSCMRightsTest_testCmsgTruncLen0(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 1)
	checkTruncatedArray(t, p, socket.CmsgLen(0), 0, 0)
}

func TestSCMRightsTest_testCmsgTruncLen0Plus1(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 2)
	checkTruncatedArray(t, p, socket.CmsgLen(0)+1, 1, 0)
}

func TestSCMRightsTest_testCmsgTruncLen1(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 2)
	checkTruncatedArray(t, p, socket.CmsgLen(4), 4, 0)
}

func TestSCMRightsTest_testCmsgTruncLen2Minus1(t *testing.T) {
	p := scmPair(t)
	createAndSendFDs(t, p, 2)
	checkTruncatedArray(t, p, socket.CmsgLen(2*4)-1, 2*4-1, 0)
}

func TestSendRecvFdsTests_testSendAndRecvFds(t *testing.T) {
	sockettest.LeakCheck(t)
	type pipe struct{ r, w *os.File }
	var pipes []pipe
	var fds []int
	for range 10 {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		pipes = append(pipes, pipe{r, w})
		fds = append(fds, int(r.Fd()))
	}
	a, b := socketpair(t, socket.SOCK_STREAM)
	if _, err := a.SendFds([][]byte{pyMSG}, fds, 0, nil); err != nil {
		t.Fatal(err)
	}
	// Ask for more data and descriptors than were sent.
	buf := make([]byte, 2*len(pyMSG))
	n, fds2, flags, _, err := b.RecvFds(buf, 2*len(fds), 0)
	for _, fd := range fds2 {
		defer syscall.Close(fd)
	}
	if err != nil || !bytes.Equal(buf[:n], pyMSG) || len(fds2) != len(fds) || flags != 0 {
		t.Fatalf("RecvFds = %q, %d descriptors, flags %v, %v", buf[:n], len(fds2), flags, err)
	}
	for i, p := range pipes {
		p.w.WriteString(strconv.Itoa(i))
	}
	for i, fd := range fds2 {
		got := make([]byte, 100)
		n, err := syscall.Read(fd, got)
		if err != nil || string(got[:n]) != strconv.Itoa(i) {
			t.Fatalf("descriptor %d reads %q, %v", i, got[:max(n, 0)], err)
		}
	}
}
