package cli

import (
	"github.com/spf13/pflag"
)

// netOpts are the nc/ncat-style flags shared by connect, listen and the
// bare "sock [flags] [host] [port]" form.
type netOpts struct {
	listen, keep   bool
	maxConns       int
	udp, unix      bool
	seqpacket      bool
	v4, v6, noDNS  bool
	source         string
	port           int
	wait, idle     durationFlag
	quit           durationFlag
	quitSet        bool
	shutdown       bool // -N: accepted for OpenBSD nc; shutting down the write side is the default
	noShutdown     bool
	sendOnly       bool
	recvOnly       bool
	crlf           bool
	verbose        int
	hexdump        bool
	zero           bool
	exec, shExec   string
	broker, chat   bool
	tls            bool
	tlsCert        string
	tlsKey         string
	tlsCA          string
	tlsInsecure    bool
	tlsSNI         string
	tlsFingerprint string
	sendProxy      bool
	sendProxyV2    bool
}

// addNetFlags registers the shared flags. listenFlags adds -l and -k,
// which only make sense where listening is possible.
func addNetFlags(f *pflag.FlagSet, o *netOpts, listenFlags bool) {
	if listenFlags {
		f.BoolVarP(&o.listen, "listen", "l", false, "listen for a connection instead of connecting")
	}
	f.BoolVarP(&o.keep, "keep-open", "k", false, "keep listening after a client leaves; serve several at once")
	f.IntVarP(&o.maxConns, "max-conns", "m", 100, "with -k, the most clients at once")
	f.BoolVarP(&o.udp, "udp", "u", false, "use UDP (or a Unix datagram socket with -U)")
	f.BoolVarP(&o.unix, "unixsock", "U", false, "use a Unix socket: the address is a path or @abstract")
	f.BoolVar(&o.seqpacket, "seqpacket", false, "use a Unix SOCK_SEQPACKET socket (implies -U)")
	f.BoolVarP(&o.v4, "ipv4", "4", false, "IPv4 only")
	f.BoolVarP(&o.v6, "ipv6", "6", false, "IPv6 only")
	f.BoolVarP(&o.noDNS, "nodns", "n", false, "do not resolve names: addresses must be numeric")
	f.StringVarP(&o.source, "source", "s", "", "source address to bind (listen address with -l)")
	f.IntVarP(&o.port, "source-port", "p", 0, "source port (the port to listen on with -l)")
	f.VarP(&o.wait, "wait", "w", "connect timeout (5, 500ms, 2m)")
	f.VarP(&o.idle, "idle-timeout", "i", "close the connection after this long without data")
	f.VarP(&o.quit, "quit-after-eof", "q", "after EOF on stdin, quit after this long (0: at once) instead of waiting for the peer")
	f.BoolVarP(&o.shutdown, "shutdown", "N", false, "shut down the socket's sending side after EOF on stdin (the default; for OpenBSD nc scripts)")
	f.BoolVar(&o.noShutdown, "no-shutdown", false, "do not shut down the sending side after EOF on stdin")
	f.BoolVar(&o.sendOnly, "send-only", false, "only send stdin; ignore what arrives, quit at EOF")
	f.BoolVar(&o.recvOnly, "recv-only", false, "only receive; never read stdin")
	f.BoolVarP(&o.crlf, "crlf", "C", false, "send line endings as CRLF")
	f.CountVarP(&o.verbose, "verbose", "v", "say what happens on stderr (-vv: byte counts too)")
	f.BoolVar(&o.hexdump, "hexdump", false, "dump the traffic in both directions to stderr as hex")
	f.BoolVarP(&o.zero, "zero", "z", false, "zero-I/O: only check that the port accepts connections (see also: sock scan)")
	f.StringVarP(&o.exec, "exec", "e", "", "run PROGRAM for each connection, its stdin and stdout on the socket")
	f.StringVarP(&o.shExec, "sh-exec", "c", "", `run "shell command" (/bin/sh -c) for each connection`)
	f.BoolVar(&o.broker, "broker", false, "with -l: relay what each client sends to all the others")
	f.BoolVar(&o.chat, "chat", false, "with -l: a chat room: like --broker, with user names")
	f.BoolVar(&o.tls, "tls", false, "use TLS (a self-signed certificate when listening without --tls-cert)")
	f.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate (PEM) to present")
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key (PEM)")
	f.StringVar(&o.tlsCA, "tls-ca", "", "CA certificates (PEM) to verify the server with")
	f.BoolVar(&o.tlsInsecure, "tls-insecure", false, "do not verify the server's certificate")
	f.StringVar(&o.tlsSNI, "tls-sni", "", "server name to ask for and verify (default: the host)")
	f.StringVar(&o.tlsFingerprint, "tls-fingerprint", "", "accept only a server certificate with this SHA256:hex fingerprint")
	f.BoolVar(&o.sendProxy, "send-proxy", false, "begin with a PROXY protocol v1 header naming this connection, as HAProxy's send-proxy does (to test a server behind HAProxy)")
	f.BoolVar(&o.sendProxyV2, "send-proxy-v2", false, "the same with a binary version 2 header (send-proxy-v2)")
}
