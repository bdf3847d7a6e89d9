// Command echoload drives an echo server and verifies every byte it gets
// back (see package loadgen for how).
//
//	echoload -addr 127.0.0.1:6254 -c 64 -s 64 -P 1 -d 5s
//	echoload -addr 127.0.0.1:6254 -tls -c 64 -s 1024 -d 5s   # over TLS
//	echoload -addr 127.0.0.1:6254 -tls -handshakes -c 4 -d 5s # full handshakes a second
package main

import (
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/socketkit/socketkit/internal/loadgen"
)

func main() {
	var cfg loadgen.Config
	flag.StringVar(&cfg.Addr, "addr", "127.0.0.1:6254", "server address: host:port or a Unix socket path")
	flag.IntVar(&cfg.Conns, "c", 64, "connections")
	flag.IntVar(&cfg.Size, "s", 64, "message size in bytes")
	flag.IntVar(&cfg.Depth, "P", 1, "messages in flight per connection")
	flag.DurationVar(&cfg.Duration, "d", 5*time.Second, "measured duration")
	flag.DurationVar(&cfg.Warmup, "warmup", 500*time.Millisecond, "unmeasured time before the measurement")
	flag.Int64Var(&cfg.Count, "n", 0, "stop after this many messages in all, or at -d if that comes first (for syscall counting)")
	flag.IntVar(&cfg.SrcIPs, "src-ips", 0, "spread connections over this many 127.0.0.x source addresses (for more than 28k)")
	hold := flag.Duration("hold", 0, "connect, send nothing and hold the connections this long (idle-memory runs)")
	useTLS := flag.Bool("tls", false, "speak TLS (the server's certificate is not verified; no session resumption: every connection makes a full handshake)")
	handshakes := flag.Bool("handshakes", false, "with -tls: measure handshakes a second: -c goroutines connect, handshake and close, over and over, for -d")
	asJSON := flag.Bool("json", false, "print the result as JSON")
	marks := flag.Bool("marks", false, "print MARK start and MARK end on stderr as the measured time starts and ends")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	if *marks {
		cfg.Mark = func(ev string) { fmt.Fprintln(os.Stderr, "MARK", ev) }
	}
	if *useTLS {
		cfg.TLS = &tls.Config{InsecureSkipVerify: true}
	}
	if *handshakes {
		res, err := loadgen.Handshakes(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, "echoload:", err)
		}
		if *asJSON {
			json.NewEncoder(os.Stdout).Encode(res)
		} else {
			fmt.Printf("conns=%d secs=%.2f handshakes=%d handshakes/s=%.0f errors=%d\n", res.Conns, res.Seconds, res.Handshakes, res.PerS, res.Errors)
		}
		if err != nil {
			os.Exit(1)
		}
		return
	}
	if *hold > 0 {
		n, err := loadgen.Hold(cfg, *hold)
		fmt.Printf("HELD %d\n", n)
		if err != nil {
			fmt.Fprintln(os.Stderr, "echoload:", err)
			os.Exit(1)
		}
		return
	}
	res, err := loadgen.Run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echoload:", err)
		res.Errors++
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(res)
	} else {
		fmt.Printf("conns=%d size=%d depth=%d secs=%.2f msgs=%d msgs/s=%.0f MB/s=%.2f p50=%.1fus p99=%.1fus p999=%.1fus max=%.1fus verified=%d errors=%d\n",
			res.Conns, res.Size, res.Depth, res.Seconds, res.Msgs, res.MsgsPerS, res.MBPerS, res.P50us, res.P99us, res.P999us, res.MaxUs, res.Verified, res.Errors)
	}
	if res.Errors > 0 {
		os.Exit(1)
	}
}
