package socket

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unsafe"
)

// The layout of struct cmsghdr: a size_t length, then int level and type,
// padded to the alignment of size_t.
const (
	cmsgAlign  = int(unsafe.Sizeof(uintptr(0)))
	cmsgHdrLen = (int(unsafe.Sizeof(uintptr(0))) + 8 + cmsgAlign - 1) &^ (cmsgAlign - 1)
)

func cmsgAlignUp(n int) int { return (n + cmsgAlign - 1) &^ (cmsgAlign - 1) }

// CmsgLen returns the cmsg_len of a control message carrying n bytes of
// data, as the CMSG_LEN macro does.
//
// Python: socket.CMSG_LEN(length).
func CmsgLen(n int) int { return cmsgHdrLen + n }

// CmsgSpace returns the buffer space a control message with n bytes of data
// takes, padding included, as the CMSG_SPACE macro does.
//
// Python: socket.CMSG_SPACE(length).
func CmsgSpace(n int) int { return cmsgHdrLen + cmsgAlignUp(n) }

// ControlMessage is one ancillary message (struct cmsghdr and its data), as
// Recvmsg returns them and Sendmsg takes them.
type ControlMessage struct {
	Level int    // SOL_SOCKET, SOL_IP...
	Type  int    // SCM_RIGHTS, SCM_CREDENTIALS, IP_TTL...
	Data  []byte // the payload, without padding
}

// ErrBadControlMessage is returned, wrapped, for ancillary data that does
// not parse: a truncated header, a length that runs past the buffer, or a
// payload of the wrong size for its type.
var ErrBadControlMessage = errors.New("socket: malformed control message")

type cmsgError struct {
	off    int
	reason string
}

func (e *cmsgError) Error() string {
	return "socket: malformed control message at offset " + strconv.Itoa(e.off) + ": " + e.reason
}
func (e *cmsgError) Unwrap() error { return ErrBadControlMessage }

// ParseControlMessages splits the ancillary data b, as filled in by
// recvmsg(2), into messages. The messages' Data slices share b's memory.
// It never reads past b; a malformed message gives an error matching
// ErrBadControlMessage and the messages before it.
func ParseControlMessages(b []byte) ([]ControlMessage, error) {
	var msgs []ControlMessage
	off := 0
	for off < len(b) {
		if len(b)-off < cmsgHdrLen {
			return msgs, &cmsgError{off, "truncated header"}
		}
		h := b[off:]
		var l uint64
		if cmsgAlign == 8 {
			l = binary.NativeEndian.Uint64(h)
		} else {
			l = uint64(binary.NativeEndian.Uint32(h))
		}
		lvl := int(int32(binary.NativeEndian.Uint32(h[cmsgAlign:])))
		typ := int(int32(binary.NativeEndian.Uint32(h[cmsgAlign+4:])))
		if l < uint64(cmsgHdrLen) || l > uint64(len(b)-off) {
			return msgs, &cmsgError{off, "length " + strconv.FormatUint(l, 10) + " out of range"}
		}
		msgs = append(msgs, ControlMessage{Level: lvl, Type: typ, Data: b[off+cmsgHdrLen : off+int(l) : off+int(l)]})
		next := off + cmsgAlignUp(int(l))
		if next <= off {
			break
		}
		off = next
	}
	return msgs, nil
}

// AppendControlMessage appends a control message with the given level, type
// and data to b, padded as the kernel expects, and returns the result.
func AppendControlMessage(b []byte, level, typ int, data []byte) []byte {
	start := len(b)
	b = append(b, make([]byte, CmsgSpace(len(data)))...)
	h := b[start:]
	if cmsgAlign == 8 {
		binary.NativeEndian.PutUint64(h, uint64(CmsgLen(len(data))))
	} else {
		binary.NativeEndian.PutUint32(h, uint32(CmsgLen(len(data))))
	}
	binary.NativeEndian.PutUint32(h[cmsgAlign:], uint32(int32(level)))
	binary.NativeEndian.PutUint32(h[cmsgAlign+4:], uint32(int32(typ)))
	copy(h[cmsgHdrLen:], data)
	return b
}

// UnixRights encodes fds as an SCM_RIGHTS control message, for Sendmsg.
func UnixRights(fds ...int) []byte {
	data := make([]byte, 4*len(fds))
	for i, fd := range fds {
		binary.NativeEndian.PutUint32(data[4*i:], uint32(int32(fd)))
	}
	return AppendControlMessage(nil, SOL_SOCKET, SCM_RIGHTS, data)
}

// UnixCredentials encodes c as an SCM_CREDENTIALS control message.
func UnixCredentials(c Ucred) []byte {
	data := make([]byte, 12)
	binary.NativeEndian.PutUint32(data, uint32(c.Pid))
	binary.NativeEndian.PutUint32(data[4:], c.Uid)
	binary.NativeEndian.PutUint32(data[8:], c.Gid)
	return AppendControlMessage(nil, SOL_SOCKET, SCM_CREDENTIALS, data)
}

// Rights decodes an SCM_RIGHTS message into the file descriptors it carries.
// The caller owns them (see NewFd) and must close them.
func (m ControlMessage) Rights() ([]int, error) {
	if m.Level != SOL_SOCKET || m.Type != SCM_RIGHTS {
		return nil, &cmsgError{0, "not SCM_RIGHTS"}
	}
	if len(m.Data)%4 != 0 {
		return nil, &cmsgError{0, "SCM_RIGHTS payload of " + strconv.Itoa(len(m.Data)) + " bytes"}
	}
	fds := make([]int, len(m.Data)/4)
	for i := range fds {
		fds[i] = int(int32(binary.NativeEndian.Uint32(m.Data[4*i:])))
	}
	return fds, nil
}

// Credentials decodes an SCM_CREDENTIALS message.
func (m ControlMessage) Credentials() (Ucred, error) {
	if m.Level != SOL_SOCKET || m.Type != SCM_CREDENTIALS {
		return Ucred{}, &cmsgError{0, "not SCM_CREDENTIALS"}
	}
	if len(m.Data) < 12 {
		return Ucred{}, &cmsgError{0, "SCM_CREDENTIALS payload of " + strconv.Itoa(len(m.Data)) + " bytes"}
	}
	return Ucred{
		Pid: int32(binary.NativeEndian.Uint32(m.Data)),
		Uid: binary.NativeEndian.Uint32(m.Data[4:]),
		Gid: binary.NativeEndian.Uint32(m.Data[8:]),
	}, nil
}

// Ucred is the identity of a process: SO_PEERCRED and SCM_CREDENTIALS.
type Ucred struct {
	Pid int32
	Uid uint32
	Gid uint32
}
