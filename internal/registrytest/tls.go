package registrytest

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/cjob/cjob/internal/pooltest"
)

// certs are the TLS files of a registry: a throw-away CA and a server
// certificate it signed for 127.0.0.1, ::1 and localhost.
type certs struct {
	ca, cert, key string
	pool          *x509.CertPool
}

// makeCerts writes the CA and the server certificate and key into dir.
func makeCerts(dir string) (certs, error) {
	var c certs
	var err error
	c.ca, c.cert, c.key, err = pooltest.Certs(dir, "127.0.0.1", "::1", "localhost")
	if err != nil {
		return c, err
	}
	pem, err := os.ReadFile(c.ca)
	if err != nil {
		return c, err
	}
	c.pool = x509.NewCertPool()
	if !c.pool.AppendCertsFromPEM(pem) {
		return c, fmt.Errorf("registrytest: no certificate in %s", c.ca)
	}
	return c, nil
}
