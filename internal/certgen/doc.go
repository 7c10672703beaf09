// Package certgen makes ECDSA P-256 certificates: the devserver's generated
// CA and serving certificate, and every certificate the tests need (CAs,
// serving and client certificates). It is the one place extmetrics calls
// x509.CreateCertificate.
package certgen
