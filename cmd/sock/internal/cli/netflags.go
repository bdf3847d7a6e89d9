package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/socketkit/socketkit/socket"
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
	tlsALPN        string
	tlsFingerprint string
	sendProxy      bool
	sendProxyV2    bool
	proxy          string // --proxy URL or env
	proxyRoute     string // how dialTarget went: "through proxy ...", "directly (...)"
	ws             wsOpts // WebSocket: connect ws://, listen --ws
}

// Which of the nc-style flags a command takes.
type netFlagSet int

const (
	connectFlags netFlagSet                   = 1 << iota // sock connect
	listenFlags                                           // sock listen
	ncFlags      = connectFlags | listenFlags             // bare sock: both, and -l
)

// addNetFlags registers the nc-style flags of connect, listen, or both
// (the bare "sock" form, which adds -l). Each command lists only the flags
// it takes.
func addNetFlags(f *pflag.FlagSet, o *netOpts, set netFlagSet) {
	conn, lis := set&connectFlags != 0, set&listenFlags != 0
	// say picks a flag's help for connect, for listen, or for both.
	say := func(connect, listen, both string) string {
		switch {
		case conn && lis:
			return both
		case lis:
			return listen
		}
		return connect
	}
	if set == ncFlags {
		f.BoolVarP(&o.listen, "listen", "l", false, "listen for a connection instead of connecting")
	}
	if lis {
		f.BoolVarP(&o.keep, "keep-open", "k", false, say("", "keep listening after a client leaves; serve several at once", "with -l: keep listening after a client leaves; serve several at once"))
		f.IntVarP(&o.maxConns, "max-conns", "m", 100, say("", "with -k, --broker or --chat, the most clients at once", "with -lk, --broker or --chat, the most clients at once"))
	}
	f.BoolVarP(&o.udp, "udp", "u", false, "use UDP (or a Unix datagram socket with -U)")
	f.BoolVarP(&o.unix, "unixsock", "U", false, "use a Unix socket: the address is a path or @abstract")
	f.BoolVar(&o.seqpacket, "seqpacket", false, "use a Unix SOCK_SEQPACKET socket (implies -U)")
	f.BoolVarP(&o.v4, "ipv4", "4", false, "IPv4 only")
	f.BoolVarP(&o.v6, "ipv6", "6", false, "IPv6 only")
	f.BoolVarP(&o.noDNS, "nodns", "n", false, "do not resolve names: addresses must be numeric")
	f.StringVarP(&o.source, "source", "s", "", say("source address to bind", "address to listen on", "source address to bind (the address to listen on with -l)"))
	f.IntVarP(&o.port, "source-port", "p", 0, say("source port", "port to listen on", "source port (the port to listen on with -l)"))
	if conn {
		f.VarP(&o.wait, "wait", "w", "connect timeout (5, 500ms, 2m)")
	}
	f.VarP(&o.idle, "idle-timeout", "i", "close the connection after this long without data")
	f.VarP(&o.quit, "quit-after-eof", "q", "after EOF on stdin, quit after this long (0: at once) instead of waiting for the peer")
	f.BoolVarP(&o.shutdown, "shutdown", "N", false, "shut down the socket's sending side after EOF on stdin (the default; for OpenBSD nc scripts)")
	f.BoolVar(&o.noShutdown, "no-shutdown", false, "do not shut down the sending side after EOF on stdin")
	f.BoolVar(&o.sendOnly, "send-only", false, "only send stdin; ignore what arrives, quit at EOF")
	f.BoolVar(&o.recvOnly, "recv-only", false, "only receive; never read stdin")
	f.BoolVarP(&o.crlf, "crlf", "C", false, "send line endings as CRLF")
	f.CountVarP(&o.verbose, "verbose", "v", "say what happens on stderr (-vv: byte counts too)")
	f.BoolVar(&o.hexdump, "hexdump", false, "dump the traffic in both directions to stderr as hex")
	if conn {
		f.BoolVarP(&o.zero, "zero", "z", false, "zero-I/O: only check that the port accepts connections (see also: sock scan)")
	}
	f.StringVarP(&o.exec, "exec", "e", "", say("run PROGRAM with its stdin and stdout on the socket", "run PROGRAM for each client, its stdin and stdout on the socket", "run PROGRAM for each connection, its stdin and stdout on the socket"))
	f.StringVarP(&o.shExec, "sh-exec", "c", "", `run "shell command" (/bin/sh -c) as -e runs PROGRAM`)
	if lis {
		f.BoolVar(&o.broker, "broker", false, say("", "relay what each client sends to all the others", "with -l: relay what each client sends to all the others"))
		f.BoolVar(&o.chat, "chat", false, say("", "a chat room, as sock serve chat: each line goes to the others with its sender's address", "with -l: a chat room, as sock serve chat: each line goes to the others with its sender's address"))
	}
	f.BoolVar(&o.tls, "tls", false, say("use TLS", "serve TLS (a self-signed certificate without --tls-cert); the certificate's fingerprint goes to stderr", "use TLS (listening: a self-signed certificate without --tls-cert, its fingerprint on stderr)"))
	f.StringVar(&o.tlsCert, "tls-cert", "", say("TLS client certificate (PEM) to present", "TLS certificate (PEM) to present", "TLS certificate (PEM) to present"))
	f.StringVar(&o.tlsKey, "tls-key", "", "TLS private key (PEM)")
	f.StringVar(&o.tlsSNI, "sni", "", say("TLS server name to ask for (SNI) and verify (default: the host)", "with --tls: answer only clients that ask for this server name (SNI)", "TLS server name: to ask for (SNI) and verify; listening, the only one answered"))
	f.StringVar(&o.tlsALPN, "alpn", "", say("TLS application protocols to offer (ALPN), comma-separated: h2,http/1.1", "TLS application protocols to accept (ALPN), comma-separated, in order of preference", "TLS application protocols (ALPN), comma-separated: offered, or accepted when listening"))
	if conn {
		f.StringVar(&o.tlsCA, "tls-ca", "", "CA certificates (PEM) to verify the server with")
		f.BoolVar(&o.tlsInsecure, "tls-insecure", false, "do not verify the server's certificate")
		f.StringVar(&o.tlsSNI, "tls-sni", "", "the same as --sni")
		f.StringVar(&o.tlsFingerprint, "tls-fingerprint", "", "accept only a server certificate with this SHA256:hex fingerprint")
		f.BoolVar(&o.sendProxy, "send-proxy", false, "begin with a PROXY protocol v1 header naming this connection, as HAProxy's send-proxy does (to test a server behind HAProxy)")
		f.BoolVar(&o.sendProxyV2, "send-proxy-v2", false, "the same with a binary version 2 header (send-proxy-v2)")
		f.StringVar(&o.proxy, "proxy", "", "connect through a proxy: socks5://, socks4a://, socks4:// or http:// (CONNECT) URL, [USER:PASSWORD@]HOST[:PORT] ($"+proxyAuthEnv+" holds USER:PASSWORD otherwise); env: from ALL_PROXY, HTTPS_PROXY and NO_PROXY")
	}
	addWSFlags(f, &o.ws, conn, lis)
}

// check rejects contradictory flags.
func (o *netOpts) check(listen bool) error {
	switch {
	case o.v4 && o.v6:
		return usagef("-4 and -6 exclude each other")
	case o.sendOnly && o.recvOnly:
		return usagef("--send-only and --recv-only exclude each other")
	case o.exec != "" && o.shExec != "":
		return usagef("-e and -c exclude each other")
	case (o.broker || o.chat) && !listen:
		return usagef("--broker and --chat need -l")
	case (o.broker || o.chat) && (o.exec != "" || o.shExec != ""):
		return usagef("--broker and --chat exclude -e and -c")
	case o.tls && o.udp:
		return usagef("--tls needs a stream socket, not UDP")
	case !o.tls && (o.tlsSNI != "" || o.tlsALPN != ""):
		return usagef("--sni and --alpn go with --tls")
	case o.port < 0 || o.port > 65535:
		return usagef("port %d out of range 0-65535", o.port)
	case o.zero && listen:
		return usagef("-z checks ports: it does not listen")
	case listen && o.maxConns < 1:
		return usagef("--max-conns must be at least 1")
	case (o.sendProxy || o.sendProxyV2) && listen:
		return usagef("--send-proxy and --send-proxy-v2 are for connecting, not -l")
	case o.sendProxy && o.sendProxyV2:
		return usagef("--send-proxy and --send-proxy-v2 exclude each other")
	case (o.sendProxy || o.sendProxyV2) && (o.udp || o.seqpacket):
		return usagef("--send-proxy needs a stream socket (TCP or a Unix stream), not UDP or --seqpacket")
	case o.proxy != "" && listen:
		return usagef("--proxy is for connecting, not -l")
	case o.proxy != "" && (o.udp || o.unix || o.seqpacket):
		return usagef("--proxy carries TCP connections only, not UDP or Unix sockets")
	}
	if o.proxy != "" && o.proxy != "env" {
		if _, err := parseProxyURL(o.proxy); err != nil {
			return err
		}
	}
	if o.seqpacket {
		o.unix = true
		if o.udp {
			return usagef("--seqpacket and -u exclude each other")
		}
	}
	return nil
}

func (o *netOpts) sockType() socket.Type {
	switch {
	case o.seqpacket:
		return socket.SOCK_SEQPACKET
	case o.udp:
		return socket.SOCK_DGRAM
	}
	return socket.SOCK_STREAM
}

func (o *netOpts) proto() string {
	switch {
	case o.seqpacket:
		return "seqpacket"
	case o.unix && o.udp:
		return "unixgram"
	case o.unix:
		return "unix"
	case o.udp:
		return "udp"
	}
	return "tcp"
}

func (o *netOpts) logf(e *env, level int, format string, args ...any) {
	if o.verbose >= level {
		fmt.Fprintf(e.stderr, "sock: "+format+"\n", args...)
	}
}
