package connector

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
)

// ServerTLS is the node's HTTPS configuration from TLSCertFile and
// TLSKeyFile (TLS 1.2 or later); nil when the node serves plain HTTP.
func (c Config) ServerTLS() (*tls.Config, error) {
	if c.TLSCertFile == "" && c.TLSKeyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("config: tlsCertFile/tlsKeyFile: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// ClientTLS is the TLS configuration of the calls the node makes: the
// system's roots plus those in TLSCAFile (nil when TLSCAFile is unset).
func (c Config) ClientTLS() (*tls.Config, error) {
	return ClientTLS(c.TLSCAFile)
}

// ClientTLS trusts the system's roots plus the PEM certificates in caFile;
// nil (the default roots) when caFile is "". The CLI uses it with
// TDSC_TLS_CA_FILE.
func ClientTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("tlsCaFile: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tlsCaFile: %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
