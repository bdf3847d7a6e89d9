package cli

import (
	"cmp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func newConnect(e *env) *cobra.Command {
	var o netOpts
	cmd := &cobra.Command{
		Use:   "connect HOST PORT | connect ADDR | connect ws://HOST[:PORT]/PATH",
		Short: "Connect and copy stdin to the socket and the socket to stdout (nc HOST PORT)",
		Long: `connect opens a connection and copies both ways: stdin to the socket and
the socket to stdout. At the end of stdin it shuts down its sending side (the
peer reads EOF; --no-shutdown keeps it open) and goes on printing until the
peer closes (-q quits sooner).

ADDR is host:port or [ipv6]:port; with -U, a Unix socket path or @abstract.
-u sends each chunk of stdin as a datagram. Timeouts take seconds (-w 5) or
durations (-w 500ms).

--proxy URL connects through a proxy: socks5:// (or socks5h://; the proxy
resolves the name), socks4a://, socks4:// (IPv4, resolved here) or http://
(CONNECT), as SCHEME://[USER:PASSWORD@]HOST[:PORT]; $SOCK_PROXY_AUTH
(USER:PASSWORD) keeps a password out of the command line. --proxy env takes
the proxy from ALL_PROXY, else HTTPS_PROXY, and connects directly to the
hosts NO_PROXY names (names with their subdomains, addresses, prefixes,
HOST:PORT, *). Some proxies (microsocks) end a tunnel when the client shuts
down its sending side: add --no-shutdown.

A ws:// or wss:// URL connects to a WebSocket server: each line of stdin is
a text message and each message a line of stdout; --binary sends stdin as
binary messages as it comes and writes messages as they are. At the end of
stdin sock prints what arrives and waits for the server's close; once the
server has sent nothing for a second it closes the WebSocket (1000) itself
(a WebSocket has no half-close, and many servers drop what they had not
sent when the close arrives). -q N closes N seconds after the end of stdin
instead (-q 0: at once). A close by the server with a code
other than 1000, 1001 or none ends sock with exit 1 and the code. wss:// takes
the --tls flags; --proxy, -w and -4/-6 apply to the connection;
--ws-max-message bounds a message (a larger one closes with 1009); --ws-ping
pings and gives up when no pong comes.`,
		Example: `  echo hello | sock connect 127.0.0.1 6254
  sock connect -v localhost 80 < request.txt
  sock connect -u 127.0.0.1 1313                  # UDP
  sock connect -U /tmp/echo.sock                  # Unix stream; -uU datagram, --seqpacket
  sock connect --tls --tls-insecure 127.0.0.1 8443
  sock connect -w 2 -s 127.0.0.2 example.test 80  # connect timeout, source address
  sock connect -e /bin/cat 127.0.0.1 6254         # connect a program to the socket
  sock connect --send-proxy-v2 10.0.0.5 8080      # as HAProxy would: a PROXY header first
  sock connect --proxy socks5://127.0.0.1:1080 example.test 80   # the proxy resolves the name
  SOCK_PROXY_AUTH=bob:secret sock connect --proxy http://proxy.test:3128 example.test 443
  sock connect --proxy env example.test 80        # ALL_PROXY, HTTPS_PROXY, NO_PROXY
  sock connect ws://127.0.0.1:8080/chat           # lines <-> text messages
  sock connect --binary --tls-ca ca.pem wss://example.test/feed > feed.bin
  sock connect --ws-header "Authorization: Bearer T" --ws-ping 20s wss://example.test/api`,
		Args: rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.quitSet = cmd.Flags().Changed("quit-after-eof")
			return runConnect(e, &o, args)
		},
	}
	addNetFlags(cmd.Flags(), &o, connectFlags)
	return cmd
}

func newListen(e *env) *cobra.Command {
	var o netOpts
	cmd := &cobra.Command{
		Use:   "listen [ADDR] PORT | listen -U PATH",
		Short: "Listen for a connection and copy it to stdout and stdin to it (nc -l)",
		Long: `listen waits for a client, then copies both ways as connect does. Without
an address it listens on every address, IPv4 and IPv6. With -k it keeps
listening and serves up to --max-conns clients at once: what each sends goes
to stdout, and stdin goes to all of them. --broker relays among the clients
instead, and --chat makes a chat room of it (the one of sock serve chat). -e
and -c run a program for each client with its stdin and stdout on the socket.

Each client has an output queue of 1 MiB (IRC's SendQ). While it is full,
the others wait for that client; one that takes nothing for 5s is
disconnected ("SendQ exceeded", said on stderr and, with --broker and
--chat, to the other clients), so that a client that never reads cannot
stall the rest.

With -u it reads datagrams (locking on to the first sender unless -k); with
-U, a Unix socket (add -u for datagrams, --seqpacket for SOCK_SEQPACKET).

--ws serves WebSocket (wss:// with --tls) on any path, or on --ws-path only:
each message a client sends is a line of stdout (--binary: written as it
is), and stdin's lines go to the client as text messages. Without -k it
serves the first client and stops listening; with -k every client, and stdin
goes to all of them.`,
		Example: `  sock listen 4444
  sock listen -vk 127.0.0.1 4444 > received.log
  sock listen -u 127.0.0.1 1313
  sock listen -U /tmp/sock.sock
  sock listen -k --broker 4444
  sock listen -k -e /bin/cat 4444                 # an echo server
  sock listen --tls 8443                          # self-signed certificate
  sock listen --ws 127.0.0.1 8080                 # a WebSocket server: ws://127.0.0.1:8080/
  sock listen --ws --tls -k --ws-path /feed 8443  # wss://HOST:8443/feed for every client`,
		Args: rangeArgs(0, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.quitSet = cmd.Flags().Changed("quit-after-eof")
			return runListen(e, &o, args)
		},
	}
	addNetFlags(cmd.Flags(), &o, listenFlags)
	return cmd
}

// ncRoot makes the root command behave as nc does when no subcommand is
// given: "sock HOST PORT" connects, "sock -l PORT" listens.
func ncRoot(e *env, root *cobra.Command) {
	var o netOpts
	addNetFlags(root.Flags(), &o, ncFlags)
	root.Args = cobra.ArbitraryArgs
	root.RunE = func(cmd *cobra.Command, args []string) error {
		o.quitSet = cmd.Flags().Changed("quit-after-eof")
		if o.listen {
			return runListen(e, &o, args)
		}
		// Listening flags without -l would be ignored: say so instead.
		for _, name := range []string{"keep-open", "max-conns", "broker", "chat"} {
			if f := cmd.Flags().Lookup(name); f.Changed {
				flag := "--" + name
				if f.Shorthand != "" {
					flag = "-" + f.Shorthand + " (" + flag + ")"
				}
				return usagef("%s is for listening: add -l (as in sock -lk PORT), or use sock listen", flag)
			}
		}
		if len(args) == 0 {
			return usagef("give a command, or HOST PORT to connect (sock --help lists the commands)")
		}
		// A near-miss of a command name ("serv") is a typo, not a host.
		if s := root.SuggestionsFor(args[0]); len(s) > 0 && !strings.ContainsAny(args[0], ".:/@") {
			// The command the word begins first ("serv": serve).
			slices.SortStableFunc(s, func(a, b string) int {
				return cmp.Compare(btoi(!strings.HasPrefix(a, args[0])), btoi(!strings.HasPrefix(b, args[0])))
			})
			return usagef("unknown command %q for \"sock\"; did you mean %s?", args[0], strings.Join(s, " or "))
		}
		if len(args) == 1 && !o.unix && !strings.Contains(args[0], ":") {
			return usagef("unknown command %q for \"sock\" (to connect, give HOST PORT)", args[0])
		}
		return runConnect(e, &o, args)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
