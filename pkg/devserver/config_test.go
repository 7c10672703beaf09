package devserver_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/extmetrics/extmetrics/pkg/devserver"
)

func TestConfigValidate(t *testing.T) {
	tokens := map[string][]string{"t": {devserver.AllNamespaces}}
	for _, tc := range []struct {
		name  string
		cfg   devserver.Config
		field string // "" = valid
		msg   string
	}{
		{"zero value", devserver.Config{}, "", ""},
		{"loopback without auth", devserver.Config{Addr: "127.0.0.1:0"}, "", ""},
		{"localhost without auth", devserver.Config{Addr: "localhost:0"}, "", ""},
		{"ipv6 loopback without auth", devserver.Config{Addr: "[::1]:0"}, "", ""},
		{"all interfaces with tokens", devserver.Config{Addr: "0.0.0.0:0", Tokens: tokens}, "", ""},
		{"all interfaces with a client CA", devserver.Config{Addr: "0.0.0.0:0", ClientCAFile: "ca.pem"}, "", ""},
		{"all interfaces with request headers", devserver.Config{Addr: "0.0.0.0:0", RequestHeader: devserver.RequestHeaderConfig{ClientCAFile: "front-proxy-ca.pem"}}, "", ""},
		{"plain HTTP request headers", devserver.Config{InsecureHTTP: true, RequestHeader: devserver.RequestHeaderConfig{ClientCAFile: "front-proxy-ca.pem"}}, "RequestHeader", "needs HTTPS"},
		{"all interfaces without auth", devserver.Config{Addr: "0.0.0.0:0"}, "Addr", "refusing to serve without authentication"},
		{"empty host without auth", devserver.Config{Addr: ":8443"}, "Addr", "not a loopback address"},
		{"admin token is not authentication", devserver.Config{Addr: "10.0.0.1:0", AdminToken: "a"}, "Addr", "refusing"},
		{"plain HTTP client CA is not authentication", devserver.Config{Addr: "0.0.0.0:0", InsecureHTTP: true, ClientCAFile: "ca.pem"}, "Addr", "refusing"},
		{"profile", devserver.Config{Profile: "nope"}, "Profile", `unknown profile "nope"`},
		{"address", devserver.Config{Addr: "nonsense"}, "Addr", `address "nonsense"`},
		{"cert without key", devserver.Config{TLSCertFile: "c"}, "TLSCertFile", "together"},
		{"plain HTTP with TLS", devserver.Config{InsecureHTTP: true, WriteCAFile: "ca"}, "InsecureHTTP", "plain HTTP"},
		{"write CA with own cert", devserver.Config{TLSCertFile: "c", TLSKeyFile: "k", WriteCAFile: "ca"}, "WriteCAFile", "generated certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("invalid: %v", err)
				}
				return
			}
			var found bool
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ce *devserver.ConfigError
				found = found || (errors.As(e, &ce) && ce.Field == tc.field && strings.Contains(ce.Error(), tc.msg))
			}
			if !found {
				t.Fatalf("error %v, want field %s with %q", err, tc.field, tc.msg)
			}
			if tc.msg == "refusing" && !errors.Is(err, devserver.ErrUnauthenticatedNonLoopback) {
				t.Errorf("not ErrUnauthenticatedNonLoopback: %v", err)
			}
		})
	}
}

// The library enforces the rule: no open server off loopback, whoever starts it.
func TestStartRefusesUnauthenticatedOffLoopback(t *testing.T) {
	for _, start := range []func() error{
		func() error { _, err := devserver.New(devserver.Config{Addr: "0.0.0.0:0"}); return err },
		func() error {
			s, err := devserver.Start(context.Background(), devserver.Config{Addr: "0.0.0.0:0"})
			if err == nil {
				s.Close()
			}
			return err
		},
	} {
		if err := start(); !errors.Is(err, devserver.ErrUnauthenticatedNonLoopback) {
			t.Errorf("started without authentication on 0.0.0.0: %v", err)
		}
	}
}
