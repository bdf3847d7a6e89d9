package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// serverTLSConfig loads a certificate and key, or, when neither is given,
// makes a self-signed certificate for this host (as ncat --ssl does) and
// returns its SHA-256 fingerprint so that it can be shown and pinned.
func serverTLSConfig(certFile, keyFile string) (*tls.Config, string, error) {
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, "", usagef("--tls-cert and --tls-key go together")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, "", fmt.Errorf("loading the TLS certificate: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}}, fingerprint(cert.Certificate[0]), nil
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, "", err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}}, fingerprint(cert.Certificate[0]), nil
}

func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return "SHA256:" + hex.EncodeToString(sum[:])
}

// selfSigned makes an ECDSA P-256 certificate valid for a day for
// localhost, the loopback addresses and the host name.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	host, _ := os.Hostname()
	names := []string{"localhost"}
	if host != "" && host != "localhost" {
		names = append(names, host)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "sock self-signed", Organization: []string{"socketkit"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// alpnList splits --alpn's comma-separated protocols.
func alpnList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// tlsSummary says what a handshake settled: "TLS 1.3, server name
// example.com, ALPN h2, server certificate SHA256:...".
func tlsSummary(st tls.ConnectionState, whose string) string {
	s := tls.VersionName(st.Version)
	if st.ServerName != "" {
		s += ", server name " + st.ServerName
	}
	if st.NegotiatedProtocol != "" {
		s += ", ALPN " + st.NegotiatedProtocol
	}
	if len(st.PeerCertificates) > 0 {
		s += ", " + whose + " " + fingerprint(st.PeerCertificates[0].Raw)
	}
	return s
}

// listenTLS applies --sni and --alpn to a listening TLS config: ALPN
// protocols to accept, and the one server name answered (the handshake
// of a client asking for another fails: crypto/tls sends internal_error).
func listenTLS(cfg *tls.Config, sni, alpn string) {
	cfg.NextProtos = alpnList(alpn)
	if sni != "" {
		cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			if !strings.EqualFold(hello.ServerName, sni) {
				return nil, fmt.Errorf("the client asked for server name %q, not %q (--sni)", hello.ServerName, sni)
			}
			return nil, nil
		}
	}
}
