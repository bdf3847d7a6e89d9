// Command tlsheap measures what an idle TLS connection costs a server in
// live heap: it serves TLS in this process (the engine's own TLS, or
// nbio's), has echoload hold -c connections whose handshake is done, then
// collects garbage and reads runtime.MemStats, which a server's RSS
// (benchrun tls's idle test) mixes with garbage not yet collected.
//
//	cd bench && go build -o bin/echoload ./cmd/echoload && go run ./cmd/tlsheap -impl sock -c 5000
//
// With -memprofile FILE it samples every allocation: `go tool pprof
// -sample_index=alloc_space -ignore 'readdir|ReadDir' FILE` is what the
// handshakes allocated (the ignored frames are this command's own polling
// of /proc/self/fd), -sample_index=inuse_space what the connections hold.
package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	ntls "github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio"
	nbiotls "github.com/lesismal/nbio/extension/tls"
	"github.com/lesismal/nbio/logging"

	"github.com/socketkit/socketkit/eventloop"
)

type echo struct{ eventloop.BaseHandler }

func (echo) OnData(c *eventloop.Conn) eventloop.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return eventloop.None
}

func rssKB() int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n
		}
	}
	return 0
}

func fds() int {
	es, _ := os.ReadDir("/proc/self/fd")
	return len(es)
}

func main() {
	impl := flag.String("impl", "sock", "server: sock (the engine's TLS, epoll) or nbio (nbio v1.6.8 with its crypto/tls fork)")
	n := flag.Int("c", 5000, "idle TLS connections")
	echoload := flag.String("echoload", "bin/echoload", "the echoload binary")
	x25519 := flag.Bool("x25519", false, "sock: offer X25519 only, not X25519MLKEM768 (nbio's fork has no ML-KEM): a diagnostic of what the post-quantum key exchange costs")
	memprof := flag.String("memprofile", "", "write a heap profile (every allocation sampled) to this file")
	flag.Parse()
	if *memprof != "" {
		runtime.MemProfileRate = 256
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		fatal(err)
	}
	var addr string
	switch *impl {
	case "sock":
		cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		e := &eventloop.Engine{Handler: echo{}, Loops: 1, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
		if *x25519 {
			e.TLSConfig.CurvePreferences = []tls.CurveID{tls.X25519}
		}
		go e.ListenAndServe("tcp", "127.0.0.1:0")
		for e.Addr() == nil {
			time.Sleep(time.Millisecond)
		}
		addr = e.Addr().String()
	case "nbio":
		logging.SetLevel(logging.LevelNone)
		cert := ntls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fatal(err)
		}
		addr = ln.Addr().String()
		ln.Close()
		eng := nbio.NewEngine(nbio.Config{Network: "tcp", Addrs: []string{addr}})
		eng.OnOpen(nbiotls.WrapOpen(&ntls.Config{Certificates: []ntls.Certificate{cert}}, false, func(c *nbio.Conn, tc *ntls.Conn) {}))
		eng.OnData(nbiotls.WrapData(func(c *nbio.Conn, tc *ntls.Conn, data []byte) { tc.Write(data) }))
		if err := eng.Start(); err != nil {
			fatal(err)
		}
	default:
		fatal(fmt.Errorf("unknown -impl %q", *impl))
	}
	runtime.GC()
	debug.FreeOSMemory()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	r0, f0 := rssKB(), fds()
	hold := exec.Command(*echoload, "-addr", addr, "-tls", "-c", strconv.Itoa(*n), "-src-ips", "8", "-hold", "120s")
	if err := hold.Start(); err != nil {
		fatal(err)
	}
	defer func() { hold.Process.Kill(); hold.Wait() }()
	for deadline := time.Now().Add(100 * time.Second); fds() < f0+*n; {
		if time.Now().After(deadline) {
			fatal(fmt.Errorf("holds %d of %d connections", fds()-f0, *n))
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // the last handshakes' work done
	r1 := rssKB()
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
	runtime.ReadMemStats(&m1)
	r2 := rssKB()
	fmt.Printf("%s, %d idle TLS connections: live heap %.0f B a connection; RSS growth %.2f kB a connection 2 s after the last handshake, %.2f kB after a GC and debug.FreeOSMemory; goroutines %d\n",
		*impl, *n, float64(m1.HeapAlloc-m0.HeapAlloc)/float64(*n), float64(r1-r0)/float64(*n), float64(r2-r0)/float64(*n), runtime.NumGoroutine())
	if *memprof != "" {
		f, err := os.Create(*memprof)
		if err != nil {
			fatal(err)
		}
		pprof.Lookup("allocs").WriteTo(f, 0) // inuse_*: what the connections hold, after the GCs above
		f.Close()
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "tlsheap:", err)
	os.Exit(1)
}
