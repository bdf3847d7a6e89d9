package sockettest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TLSPKI is a test certificate authority and certificates it signed, for
// TLS tests with real peers (openssl, curl, Python): the certificates as
// crypto/tls wants them and as PEM files for the peers' command lines.
type TLSPKI struct {
	CA         *x509.Certificate
	CAPool     *x509.CertPool
	Server     tls.Certificate // for localhost, 127.0.0.1, ::1 and the names given
	Client     tls.Certificate // a client certificate (CN "socketkit test client")
	Other      tls.Certificate // a second server certificate, for other.test (SNI tests)
	CAFile     string          // the CA certificate (PEM)
	ServerCert string          // the server's certificate and key (PEM files)
	ServerKey  string
	ClientCert string // the client's certificate and key (PEM files)
	ClientKey  string
}

var pki struct {
	once sync.Once
	p    *TLSPKI
	err  error
	dir  string
}

// TLSCerts returns the package's test PKI, made on first use (ECDSA
// P-256, valid for a day) and written to a temporary directory that lives
// as long as the process.
func TLSCerts(t testing.TB) *TLSPKI {
	t.Helper()
	pki.once.Do(func() { pki.p, pki.err = makePKI() })
	if pki.err != nil {
		t.Fatalf("making the test PKI: %v", pki.err)
	}
	return pki.p
}

func makePKI() (*TLSPKI, error) {
	dir, err := os.MkdirTemp("", "sockettest-pki-")
	if err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "socketkit test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &TLSPKI{CA: ca, CAPool: x509.NewCertPool()}
	p.CAPool.AddCert(ca)
	leaf := func(serial int64, cn string, names []string, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return tls.Certificate{}, nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     names,
		}
		if usage == x509.ExtKeyUsageServerAuth && cn == "localhost" {
			tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return tls.Certificate{}, nil, nil, err
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return tls.Certificate{}, nil, nil, err
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		return c, certPEM, keyPEM, err
	}
	var sPEM, sKey, cPEM, cKey []byte
	if p.Server, sPEM, sKey, err = leaf(2, "localhost", []string{"localhost", "server.test"}, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	if p.Client, cPEM, cKey, err = leaf(3, "socketkit test client", nil, x509.ExtKeyUsageClientAuth); err != nil {
		return nil, err
	}
	if p.Other, _, _, err = leaf(4, "other.test", []string{"other.test"}, x509.ExtKeyUsageServerAuth); err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
		dst  *string
	}{
		{"ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), &p.CAFile},
		{"server.pem", sPEM, &p.ServerCert},
		{"server.key", sKey, &p.ServerKey},
		{"client.pem", cPEM, &p.ClientCert},
		{"client.key", cKey, &p.ClientKey},
	}
	for _, f := range files {
		path := filepath.Join(dir, f.name)
		if err := os.WriteFile(path, f.data, 0o600); err != nil {
			return nil, err
		}
		*f.dst = path
	}
	pki.dir = dir
	return p, nil
}
