//go:build linux

package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// needTool finds a program of a Debian package .ci/run installs.
func needTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing; .ci/run installs %s", name, pkg)
		}
		t.Skipf("%s not installed (Debian package %s)", name, pkg)
	}
	return p
}

// deployFile reads a file of deploy/, which the README shows.
func deployFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "deploy", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startPrometheus runs a real Prometheus on loopback with deploy/'s
// scrape configuration, its target being target instead of the
// README's 127.0.0.1:9464 and its interval 1s instead of 5s, and
// returns its address; it is stopped when the test ends.
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := needTool(t, "prometheus", "prometheus")
	cfg := deployFile(t, "prometheus.yml")
	if !strings.Contains(cfg, `"127.0.0.1:9464"`) || !strings.Contains(cfg, "scrape_interval: 5s") {
		t.Fatalf("deploy/prometheus.yml changed; update the test:\n%s", cfg)
	}
	cfg = strings.Replace(cfg, `"127.0.0.1:9464"`, `"`+target+`"`, 1)
	cfg = strings.Replace(cfg, "scrape_interval: 5s", "scrape_interval: 1s", 1)
	dir := t.TempDir()
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "--config.file="+path, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready in 30s: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// promQuery asks Prometheus's HTTP API for the value of an instant
// query, waiting (bounded) until it equals want.
func promQuery(t *testing.T, prom, query, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + prom + "/api/v1/query?query=" + url.QueryEscape(query))
		if err == nil {
			var r struct {
				Status string
				Data   struct {
					Result []struct {
						Value []any
					}
				}
			}
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if err == nil && len(r.Data.Result) == 1 && len(r.Data.Result[0].Value) == 2 {
				last = fmt.Sprint(r.Data.Result[0].Value[1])
				if last == want {
					return
				}
			} else {
				last = fmt.Sprintf("%+v %v", r, err)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("Prometheus: %s = %s, want %s", query, last, want)
}

// TestMetricsPrometheus: sock serve --metrics, on goroutines, prefork and
// the engine, scraped by a real Prometheus: after one client sends
// 123,456 bytes to echo and reads them back, the API says 1 connection
// and 123456 bytes in and out; promtool check metrics finds no problem
// in the exposition.
func TestMetricsPrometheus(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	for _, tc := range []struct {
		name, prefix string
		args         []string
	}{
		{"goroutines", "socketkit_server_", nil},
		{"prefork", "socketkit_server_", []string{"--dispatcher", "prefork", "--workers", "2"}},
		{"engine", "socketkit_engine_", []string{"--engine", "loop", "--loops", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			maddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			args := append([]string{"serve", "echo", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--metrics", maddr}, tc.args...)
			_, addr, errb := startSock(t, args...)
			waitFor(t, errb, "metrics on http://"+maddr+"/metrics", 5*time.Second)
			prom := startPrometheus(t, maddr)

			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			payload := bytes.Repeat([]byte("0123456789abcdef"), 123456/16+1)[:123456]
			go func() {
				c.Write(payload)
				c.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			c.Close()
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("echo: %d bytes, %v", len(got), err)
			}
			promQuery(t, prom, "sum("+tc.prefix+"received_bytes_total)", "123456")
			promQuery(t, prom, "sum("+tc.prefix+"sent_bytes_total)", "123456")
			promQuery(t, prom, "sum("+tc.prefix+"accepted_total)", "1")
			promQuery(t, prom, `up{job="sock"}`, "1")

			resp, err := http.Get("http://" + maddr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, name := range []string{"socketkit_listener_accept_queue_limit", "socketkit_tcp_listen_overflows_total"} {
				if !bytes.Contains(body, []byte(name)) {
					t.Errorf("no %s in /metrics", name)
				}
			}
			check := exec.Command(promtool, "check", "metrics")
			check.Stdin = bytes.NewReader(body)
			if out, err := check.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Fatalf("promtool check metrics: %v\n%s", err, out)
			}
		})
	}
}
