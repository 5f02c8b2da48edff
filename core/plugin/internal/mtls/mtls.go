// Package mtls makes the mutual TLS of one plugin launch: the host makes
// both ends' certificates (NewLaunch) and hands the plugin its part, which
// the plugin turns into its server configuration (Server).
package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// The channel between a host and a plugin is mutual TLS, as go-plugin's
// AutoMTLS makes it, with certificates made for one launch. AutoMTLS makes
// them with P-521 keys, each end its own, which costs some 30 ms of a
// plugin's start; here the host makes both, with P-256 keys (well under a
// millisecond), and hands the plugin its certificate, its key and the
// host's certificate over the host link (package hostlink), a socket only the two
// processes hold, rather than in the environment, which others running as
// the same user can read. Each end accepts only the other's certificate:
//
//   - the plugin requires a client certificate and trusts only the host's;
//   - the host trusts only the plugin's certificate as a server's.
//
// TLS 1.3 only.

// tlsLifetime is how long the certificates of a launch are valid: as long
// as a plugin may run.
const tlsLifetime = 30 * 365 * 24 * time.Hour

// tlsServerName is the name in the plugin's certificate, and the name the
// host expects.
const tlsServerName = "localhost"

// pluginTLS is what the host hands a plugin, in JSON: PEM blocks.
type pluginTLS struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
	Host string `json:"host"`
}

// NewLaunch makes the certificates of one launch. It returns the host's
// TLS configuration and the plugin's material, as JSON.
func NewLaunch() (*tls.Config, []byte, error) {
	hostCert, hostDER, err := newCert(x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, nil, err
	}
	plugCert, plugDER, err := newCert(x509.ExtKeyUsageServerAuth)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(plugCert.PrivateKey)
	if err != nil {
		return nil, nil, err
	}
	material, err := json.Marshal(pluginTLS{
		Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: plugDER})),
		Key:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		Host: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hostDER})),
	})
	if err != nil {
		return nil, nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(plugCert.Leaf)
	return &tls.Config{
		Certificates: []tls.Certificate{hostCert},
		RootCAs:      roots,
		ServerName:   tlsServerName,
		MinVersion:   tls.VersionTLS13,
	}, material, nil
}

// newCert makes a self-signed certificate with a new P-256 key.
func newCert(usage x509.ExtKeyUsage) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: tlsServerName, Organization: []string{"micro plugin"}},
		DNSNames:              []string{tlsServerName},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(tlsLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, der, nil
}

// Server returns the plugin's TLS configuration from the material the
// host sent.
func Server(material []byte) (*tls.Config, error) {
	var m pluginTLS
	if err := json.Unmarshal(material, &m); err != nil {
		return nil, fmt.Errorf("TLS material from the host: %w", err)
	}
	cert, err := tls.X509KeyPair([]byte(m.Cert), []byte(m.Key))
	if err != nil {
		return nil, fmt.Errorf("TLS material from the host: %w", err)
	}
	clients := x509.NewCertPool()
	if !clients.AppendCertsFromPEM([]byte(m.Host)) {
		return nil, errors.New("TLS material from the host: no host certificate")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clients,
		MinVersion:   tls.VersionTLS13,
	}, nil
}
