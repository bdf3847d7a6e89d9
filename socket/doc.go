// Package socket is the BSD socket API as Python's socket module teaches it,
// in Go: one Socket type for every family (AF_INET, AF_INET6, AF_UNIX,
// AF_PACKET, AF_NETLINK, AF_VSOCK...) and every type (SOCK_STREAM,
// SOCK_DGRAM, SOCK_RAW, SOCK_RDM, SOCK_SEQPACKET), with the method names of
// the system calls: Bind, Listen, Accept, Connect, ConnectEx, Recv,
// Recvfrom, Send, Sendall, Sendto, Getsockname, Getpeername, Fd, Close.
//
// Unlike a C or Python socket, a Socket sits on the Go runtime's network
// poller: its descriptor is always non-blocking and close-on-exec, and a
// call that must wait parks the goroutine, not an OS thread. Python's three
// timeout modes are kept on top of that (see Timeouts below). A Socket is
// also a net.Conn, an io.ReaderFrom and an io.WriterTo (sendfile and splice
// underneath, and a buffered copy for ends the poller cannot wait for, such
// as a shell's blocking stdout: see WriteTo), and Listener and PacketConn adapt it to net.Listener and
// net.PacketConn, so the standard library (crypto/tls, net/http, io.Copy)
// runs over it unchanged.
//
// # The tutorial's server and client
//
// s1.py binds 127.0.0.1:6254, listens with a backlog of 5, accepts one
// client and prints its address; c1.py connects and closes:
//
//	sk, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
//	addr, _ := socket.ParseAddr(socket.AF_INET, "127.0.0.1:6254")
//	sk.Bind(addr)
//	sk.Listen(5)
//	conn, address, _ := sk.Accept()
//	fmt.Println(address, conn)
//
//	obj, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
//	obj.Connect(addr)
//	obj.Close()
//
// # Python to Go
//
//	Python                              Go
//	socket.socket(family, type, proto)  socket.New(family, type, proto)
//	socket.socket(fileno=fd)            socket.NewFd(fd)
//	socket.fromfd(fd, f, t, p)          socket.FromFd(fd, f, t, p)
//	socket.socketpair(f, t, p)          socket.Socketpair(f, t, p)
//	socket.create_connection(addr, ...) socket.CreateConnection(ctx, addr, opts)
//	socket.create_server(addr, ...)     socket.CreateServer(addr, opts) (TCP);
//	                                    socket.Listen(network, addr, opts) (any type)
//	(host, port) / path                 Sockaddr; socket.ParseAddr(family, "host:port")
//	s.bind(address)                     s.Bind(addr)
//	s.listen(backlog)                   s.Listen(backlog)
//	s.accept()                          s.Accept() (*Socket, Sockaddr, error)
//	s.connect(address)                  s.Connect(addr)
//	s.connect_ex(address)               s.ConnectEx(addr) (syscall.Errno, error)
//	s.recv(bufsize[, flags])            s.Recv(buf, flags) (n, err); n == 0 at EOF
//	s.recv_into(buffer)                 s.Recv(buf, flags)
//	s.recvfrom(bufsize[, flags])        s.Recvfrom(buf, flags) (n, from, err)
//	s.recvmsg(bufsize, ancbufsize)      s.Recvmsg(buf, oob, flags)
//	s.send(bytes[, flags])              s.Send(b, flags)
//	s.sendall(bytes[, flags])           s.Sendall(b, flags)
//	s.sendto(bytes, address)            s.Sendto(b, flags, addr)
//	s.sendmsg(buffers, ancdata)         s.Sendmsg(bufs, oob, flags, addr)
//	s.sendfile(file)                    io.Copy(s, file) (sendfile(2))
//	socket.send_fds / recv_fds          s.SendFds / s.RecvFds
//	s.setblocking(flag)                 s.SetBlocking(flag)
//	s.getblocking()                     s.Blocking()
//	s.settimeout(None)                  s.SetTimeout(0)
//	s.settimeout(0.0)                   s.SetBlocking(false)
//	s.settimeout(seconds)               s.SetTimeout(d)
//	s.gettimeout()                      s.Timeout()
//	s.getpeername()                     s.Getpeername()
//	s.getsockname()                     s.Getsockname()
//	s.fileno()                          s.Fd() (-1 after Close)
//	s.close()                           s.Close() (idempotent)
//	s.shutdown(how)                     s.Shutdown(how), s.CloseRead(), s.CloseWrite()
//	s.dup()                             s.Dup()
//	s.setsockopt(level, opt, value)     s.SetsockoptInt / SetsockoptBytes, typed setters
//	s.getsockopt(level, opt)            s.GetsockoptInt / GetsockoptBytes, typed getters
//	s.makefile()                        *Socket is an io.Reader and io.Writer
//	s.family, s.type, s.proto           s.Family(), s.Type(), s.Proto()
//	socket.getaddrinfo(...)             socket.GetAddrInfo(ctx, host, port, hints)
//	socket.getnameinfo(sa, flags)       socket.GetNameInfo(ctx, sa, flags)
//	socket.gethostbyname(name)          socket.GetHostByName(name)
//	socket.gethostbyname_ex(name)       socket.GetHostByNameEx(name)
//	socket.gethostbyaddr(ip)            socket.GetHostByAddr(ip)
//	socket.gethostname()                socket.GetHostname()
//	socket.getfqdn(name)                socket.GetFQDN(name)
//	socket.getservbyname / byport       socket.GetServByName / GetServByPort
//	socket.getprotobyname(name)         socket.GetProtoByName(name)
//	socket.inet_aton / inet_ntoa        socket.InetAton / InetNtoa
//	socket.inet_pton / inet_ntop        socket.InetPton / InetNtop
//	socket.htons / ntohs / htonl / ntohl socket.Htons / Ntohs / Htonl / Ntohl
//	socket.getdefaulttimeout()          socket.DefaultTimeout()
//	socket.setdefaulttimeout(t)         socket.SetDefaultTimeout(d)
//	socket.has_dualstack_ipv6()         socket.HasDualStackIPv6()
//	socket.CMSG_LEN / CMSG_SPACE        socket.CmsgLen / CmsgSpace
//	socket.AF_INET, SOCK_STREAM, ...    socket.AF_INET, socket.SOCK_STREAM, ... (typed)
//	socket.IPPORT_RESERVED              socket.IPPORT_RESERVED (1024)
//	socket.SOMAXCONN                    socket.SOMAXCONN
//	socket.error / OSError(errno)       *net.OpError wrapping *os.SyscallError; errors.Is(err, syscall.ECONNREFUSED)
//	socket.timeout                      errors.Is(err, os.ErrDeadlineExceeded)
//	BlockingIOError                     errors.Is(err, syscall.EAGAIN)
//	socket.gaierror                     *socket.AddrInfoError; errors.Is(err, socket.EAI_NONAME)
//
// # Timeouts
//
// Python has three modes and so does Socket. Blocking (the default,
// Python's settimeout(None)): calls wait as long as it takes. Non-blocking
// (SetBlocking(false); Python's settimeout(0.0)): a call that would wait
// fails at once with an error matching syscall.EAGAIN (EINPROGRESS for
// Connect). Timeout (SetTimeout(d)): each call fails after about d with an
// error matching os.ErrDeadlineExceeded that is a net.Error with Timeout()
// true. SetTimeout(0) means no timeout, following Go's zero-value
// convention, so Python's settimeout(0.0) is SetBlocking(false) here. The
// absolute deadlines of net.Conn (SetDeadline, SetReadDeadline,
// SetWriteDeadline) work alongside: each call stops at whichever comes
// first. The Context methods (AcceptContext, ConnectContext, RecvContext...)
// add a context on top.
//
// # Errors
//
// A failed system call returns a *net.OpError naming the operation, the
// network and the addresses, around exactly one *os.SyscallError naming the
// system call: "connect tcp 127.0.0.1:6254: connect: connection refused".
// errors.Is matches the errno (syscall.ECONNREFUSED), os.ErrDeadlineExceeded
// and, after Close, net.ErrClosed. EINTR is retried and never returned.
// Where the reason is not obvious the message adds it, as for binding a
// privileged port (below net.ipv4.ip_unprivileged_port_start, by default
// IPPORT_RESERVED) without privilege or creating SOCK_RDM on a kernel
// without TIPC or RDS.
//
// No argument panics: a nil context, address, reader, writer or
// connection, or any other zero value, gives an error (a nil context one
// matching syscall.EINVAL), and so do the methods of a zero Listener or
// PacketConn. Every method of a nil *Socket returns an error matching
// os.ErrInvalid (Close returns os.ErrInvalid itself), or, if it returns no
// error, its zero value: Fd -1, Family, Type, Proto and Timeout 0,
// Blocking false, LocalAddr and RemoteAddr nil, String "<socket nil>".
// Otherwise the receiver must be a Socket made by this package (New,
// Socketpair, Accept, FromFd...): the methods of a Socket{} literal panic.
//
// # Differences from Python by design
//
// The package keeps a port of the test methods of CPython 3.11's
// Lib/test/test_socket.py that run on Linux (the cpython_*_test.go files,
// one Go test per method, named after it; testdata/cpython-conformance.md
// maps every method to its test or to the reason below). These methods
// behave differently on purpose:
//
//   - Descriptors are always non-blocking and close-on-exec. Python's
//     fcntl checks of O_NONBLOCK (NonBlockingTCPTests.testSetBlocking,
//     NonblockConstantTest) and set_inheritable (InheritanceTest) have no
//     counterpart: the runtime poller needs O_NONBLOCK, and a descriptor
//     goes to a child through exec.Cmd.ExtraFiles.
//   - Timeouts: SetTimeout(0) and SetDefaultTimeout(0) mean no timeout, Go's
//     zero value; Python's settimeout(0.0) is SetBlocking(false), and
//     setdefaulttimeout(0.0) (new sockets non-blocking) has no counterpart.
//     A negative default counts as none instead of raising ValueError
//     (GeneralModuleTests.testDefaultTimeout). DialOptions.Timeout 0 means
//     "not given", so create_connection(timeout=None) over a default timeout
//     is CreateConnection then SetTimeout(0)
//     (NetworkConnectionAttributesTest.testTimeoutNone).
//   - Signals do not interrupt calls: a Go program receives them on a
//     channel (os/signal) and EINTR is retried, so a call ends as it would
//     have without the signal (GeneralModuleTests.test_sendall_interrupted*,
//     InterruptedRecvTimeoutTest, InterruptedSendTimeoutTest,
//     TCPTimeoutTest.testInterruptedTimeout; their Go tests pin this).
//   - A Socket owns its descriptor: closing the number behind its back
//     (os.Close(s.Fd()), or another Socket on the same number) is
//     unsupported, because the runtime poller tracks it and the number may
//     be reused at once (GeneralModuleTests.testCloseException,
//     test_socket_close, TestExceptions.test_setblocking_invalidfd). There
//     is no Detach (BasicTCPTest.testDetach): Dup or File give a descriptor
//     the caller owns.
//   - Recvmsg receives into one buffer; there is no scatter read
//     (RecvmsgIntoTests.testRecvmsgIntoScatter).
//   - io.Copy(sock, r) is sock.sendfile(): on a non-blocking socket it sends
//     what fits and returns EAGAIN, where Python refuses the socket, and it
//     works on any socket type (SendfileUsingSendTest.testNonBlocking,
//     test_errors).
//   - Integer arguments have no error result where Python raises
//     OverflowError: Listen caps a backlog past the C int at the largest int
//     (test_listen_backlog_overflow), CmsgLen and CmsgSpace compute any int
//     (CmsgMacroTests).
//   - String prints the constants' names (family=AF_INET, as Python before
//     3.11 did) and Go's address syntax (GeneralModuleTests.test_repr).
//   - The interface-name functions if_nameindex, if_nametoindex and
//     if_indextoname are the standard library's net.Interfaces,
//     net.InterfaceByName and net.InterfaceByIndex; sethostname is
//     syscall.Sethostname (GeneralModuleTests.testInterfaceNameIndex,
//     testInvalidInterfaceIndexToName, testInvalidInterfaceNameToIndex,
//     test_sethostname).
//
// Where Python's answer comes from the C library (inet_aton, inet_ntop,
// getaddrinfo's types and protocols, getnameinfo's scope names,
// getservbyname and getservbyport), the tests compare with python3 on the
// machine that runs them.
//
// # Platforms
//
// Linux is the platform this package is built and tested on. It compiles
// elsewhere, but there New and the other constructors return an error
// wrapping errors.ErrUnsupported. The numeric values of the constants are
// Linux's.
package socket
