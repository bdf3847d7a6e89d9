package sockdiag

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// Sizes and numbers of include/uapi/linux/inet_diag.h and unix_diag.h,
// which golang.org/x/sys does not carry.
const (
	sizeofInetDiagReqV2 = 56
	sizeofInetDiagMsg   = 72
	sizeofUnixDiagReq   = 24
	sizeofUnixDiagMsg   = 16

	inetDiagSKV6Only = 11 // INET_DIAG_SKV6ONLY, a u8

	udiagShowName  = 0x01
	udiagShowPeer  = 0x04
	udiagShowRQLen = 0x10
	unixDiagName   = 0
	unixDiagPeer   = 2
	unixDiagRQLen  = 4
)

// Dump lists the sockets req asks for, in the network namespace of the
// calling thread, with their owners when withOwners is set (a process's
// sockets are visible only to its user and to root). It reads the kernel's
// tables with NETLINK_SOCK_DIAG; a dump that the kernel marks interrupted
// (NLM_F_DUMP_INTR: the table changed while it was read) is read again.
func Dump(req Request, withOwners bool) ([]Socket, error) {
	var out []Socket
	fams := []uint8{}
	if req.IPv4 || !req.IPv6 {
		fams = append(fams, unix.AF_INET)
	}
	if req.IPv6 || !req.IPv4 {
		fams = append(fams, unix.AF_INET6)
	}
	for _, p := range []struct {
		on    bool
		proto uint8
	}{{req.TCP, unix.IPPROTO_TCP}, {req.UDP, unix.IPPROTO_UDP}} {
		if !p.on {
			continue
		}
		for _, f := range fams {
			ss, err := dumpInet(f, p.proto)
			if err != nil {
				return nil, err
			}
			out = append(out, ss...)
		}
	}
	if req.Unix {
		ss, err := dumpUnix()
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
	}
	if withOwners {
		owners, err := Owners()
		if err != nil {
			return nil, err
		}
		for i := range out {
			if out[i].Inode != 0 {
				out[i].Owners = owners[out[i].Inode]
			}
		}
	}
	return out, nil
}

// Inode returns the inode of the socket behind descriptor fd, the number
// that Socket.Inode and /proc/PID/fd name ("socket:[INODE]").
func Inode(fd int) (uint32, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, os.NewSyscallError("fstat", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return 0, fmt.Errorf("sockdiag: descriptor %d is not a socket", fd)
	}
	return uint32(st.Ino), nil
}

func dumpInet(family, proto uint8) ([]Socket, error) {
	req := make([]byte, sizeofInetDiagReqV2)
	req[0] = family
	req[1] = proto
	binary.NativeEndian.PutUint32(req[4:], ^uint32(0)) // every state
	netid := TCP
	if proto == unix.IPPROTO_UDP {
		netid = UDP
	}
	var out []Socket
	err := dump(req, func(b []byte) error {
		if len(b) < sizeofInetDiagMsg {
			return fmt.Errorf("sockdiag: short inet_diag_msg (%d bytes)", len(b))
		}
		s := Socket{Netid: netid, State: State(b[1]), Timer: b[2], Retrans: b[3]}
		id := b[4:52]
		sport := binary.BigEndian.Uint16(id[0:])
		dport := binary.BigEndian.Uint16(id[2:])
		s.Local = netip.AddrPortFrom(inetAddr(b[0], id[4:20]), sport)
		s.Peer = netip.AddrPortFrom(inetAddr(b[0], id[20:36]), dport)
		s.Expires = binary.NativeEndian.Uint32(b[52:])
		s.RecvQ = binary.NativeEndian.Uint32(b[56:])
		s.SendQ = binary.NativeEndian.Uint32(b[60:])
		s.UID = binary.NativeEndian.Uint32(b[64:])
		s.Inode = binary.NativeEndian.Uint32(b[68:])
		if s.State == NEW_SYN_RECV {
			s.State = SYN_RECV
		}
		for _, a := range attrs(b[sizeofInetDiagMsg:]) {
			if a.typ == inetDiagSKV6Only && len(a.val) >= 1 {
				s.V6Only = a.val[0] != 0
			}
		}
		out = append(out, s)
		return nil
	})
	if errors.Is(err, syscall.ENOENT) && proto == unix.IPPROTO_UDP {
		// The kernel answers ENOENT when udp_diag is not loaded (and cannot
		// be: a container without module loading). Say so plainly.
		return nil, fmt.Errorf("sockdiag: the kernel lists no UDP sockets over NETLINK_SOCK_DIAG (is the udp_diag module loaded?): %w", err)
	}
	return out, err
}

func inetAddr(family uint8, b []byte) netip.Addr {
	if family == unix.AF_INET {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.AddrFrom16([16]byte(b[:16]))
}

func dumpUnix() ([]Socket, error) {
	req := make([]byte, sizeofUnixDiagReq)
	req[0] = unix.AF_UNIX
	binary.NativeEndian.PutUint32(req[4:], ^uint32(0))
	binary.NativeEndian.PutUint32(req[12:], udiagShowName|udiagShowPeer|udiagShowRQLen)
	var out []Socket
	err := dump(req, func(b []byte) error {
		if len(b) < sizeofUnixDiagMsg {
			return fmt.Errorf("sockdiag: short unix_diag_msg (%d bytes)", len(b))
		}
		if b[0] != unix.AF_UNIX {
			return nil
		}
		s := Socket{State: State(b[2]), Inode: binary.NativeEndian.Uint32(b[4:])}
		switch b[1] {
		case unix.SOCK_STREAM:
			s.Netid = UnixStr
		case unix.SOCK_DGRAM:
			s.Netid = UnixDgr
		case unix.SOCK_SEQPACKET:
			s.Netid = UnixSeq
		default:
			s.Netid = Netid(fmt.Sprintf("u_%d", b[1]))
		}
		for _, a := range attrs(b[sizeofUnixDiagMsg:]) {
			switch a.typ {
			case unixDiagName:
				name := a.val
				if len(name) > 0 && name[0] == 0 {
					s.Path = "@" + string(name[1:])
				} else {
					// A path name ends at its NUL, which the kernel keeps
					// when the binder counted it in the address length.
					if i := bytes.IndexByte(name, 0); i >= 0 {
						name = name[:i]
					}
					s.Path = string(name)
				}
			case unixDiagPeer:
				if len(a.val) >= 4 {
					s.PeerInode = binary.NativeEndian.Uint32(a.val)
				}
			case unixDiagRQLen:
				if len(a.val) >= 8 {
					s.RecvQ = binary.NativeEndian.Uint32(a.val)
					s.SendQ = binary.NativeEndian.Uint32(a.val[4:])
				}
			}
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

type attr struct {
	typ uint16
	val []byte
}

// attrs parses netlink attributes (struct nlattr, 4-byte aligned).
func attrs(b []byte) []attr {
	var out []attr
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			break
		}
		out = append(out, attr{typ: binary.NativeEndian.Uint16(b[2:]) & 0x3fff, val: b[4:l]})
		al := (l + 3) &^ 3
		if al > len(b) {
			break
		}
		b = b[al:]
	}
	return out
}

// dump sends one SOCK_DIAG_BY_FAMILY dump request and calls each for every
// message of the answer. An interrupted dump is retried a few times.
func dump(body []byte, each func([]byte) error) error {
	var err error
	for try := 0; try < 4; try++ {
		var intr bool
		intr, err = dumpOnce(body, each)
		if err != nil || !intr {
			return err
		}
	}
	return err
}

func dumpOnce(body []byte, each func([]byte) error) (interrupted bool, err error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return false, fmt.Errorf("sockdiag: %w", os.NewSyscallError("socket", err))
	}
	defer unix.Close(fd)
	msg := make([]byte, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], unix.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(msg[8:], 1) // each dump has its own socket
	copy(msg[unix.NLMSG_HDRLEN:], body)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return false, fmt.Errorf("sockdiag: %w", os.NewSyscallError("sendto", err))
	}
	buf := make([]byte, 64<<10)
	for {
		// Peek at the size first so that no message is ever truncated.
		n, _, err := unix.Recvfrom(fd, buf, unix.MSG_PEEK|unix.MSG_TRUNC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("sockdiag: %w", os.NewSyscallError("recvfrom", err))
		}
		if n > len(buf) {
			buf = make([]byte, n)
		}
		n, _, err = unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return false, fmt.Errorf("sockdiag: %w", os.NewSyscallError("recvfrom", err))
		}
		b := buf[:n]
		for len(b) >= unix.NLMSG_HDRLEN {
			l := int(binary.NativeEndian.Uint32(b))
			typ := binary.NativeEndian.Uint16(b[4:])
			flags := binary.NativeEndian.Uint16(b[6:])
			if l < unix.NLMSG_HDRLEN || l > len(b) {
				return false, fmt.Errorf("sockdiag: malformed netlink message (length %d of %d)", l, len(b))
			}
			if flags&unix.NLM_F_DUMP_INTR != 0 {
				interrupted = true
			}
			payload := b[unix.NLMSG_HDRLEN:l]
			switch typ {
			case unix.NLMSG_DONE:
				return interrupted, nil
			case unix.NLMSG_ERROR:
				if len(payload) >= 4 {
					if code := int32(binary.NativeEndian.Uint32(payload)); code != 0 {
						return false, fmt.Errorf("sockdiag: %w", os.NewSyscallError("SOCK_DIAG_BY_FAMILY", syscall.Errno(-code)))
					}
				}
				return interrupted, nil
			default:
				if err := each(payload); err != nil {
					return false, err
				}
			}
			al := (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1)
			if al > len(b) {
				break
			}
			b = b[al:]
		}
	}
}
