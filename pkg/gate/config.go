package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// ClusterProvider is the provider name that, without an address, means the
// gate's own cluster: its kubeconfig or in-cluster configuration, so the
// kube-apiserver's aggregation layer.
const ClusterProvider = "cluster"

// MaxConfigBytes bounds the --config file.
const MaxConfigBytes = 1 << 20

// Config is the gate's --config file.
type Config struct {
	Providers []ProviderConfig `json:"providers"`
}

// ProviderConfig is one named provider: the only addresses (apart from
// MetricTemplates in the cluster) the gate sends requests to, and the only
// ones that receive credentials the gate holds itself.
type ProviderConfig struct {
	Name               string   `json:"name"`
	Address            string   `json:"address,omitempty"`
	CAFile             string   `json:"caFile,omitempty"`
	TokenFile          string   `json:"tokenFile,omitempty"` // re-read on every request (rotated tokens)
	ClientCertFile     string   `json:"clientCertFile,omitempty"`
	ClientKeyFile      string   `json:"clientKeyFile,omitempty"`
	InsecureSkipVerify bool     `json:"insecureSkipVerify,omitempty"`
	Timeout            Duration `json:"timeout,omitempty"` // per query, retries included; default 5s
	// AllowCredentialsOverHTTP is the explicit opt-in to send credentials
	// over plain http:// to a host that is not loopback (refused
	// otherwise: provider.Options.AllowCredentialsOverHTTP).
	AllowCredentialsOverHTTP bool `json:"allowCredentialsOverHTTP,omitempty"`
}

// Duration is a time.Duration written as "10s" in YAML.
type Duration struct{ time.Duration }

// UnmarshalJSON reads "10s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		d.Duration = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want e.g. 5s", s)
	}
	d.Duration = v
	return nil
}

// MarshalJSON writes "10s".
func (d Duration) MarshalJSON() ([]byte, error) { return []byte(`"` + d.String() + `"`), nil }

var providerName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// LoadConfig reads and validates a --config file.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(b) > MaxConfigBytes {
		return nil, fmt.Errorf("config %s: larger than %d bytes", path, MaxConfigBytes)
	}
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes (strictly: unknown keys are errors) and validates a config.
func ParseConfig(b []byte) (*Config, error) {
	cfg := &Config{}
	if len(bytes.TrimSpace(b)) == 0 {
		return cfg, nil
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, err
	}
	var top struct {
		Providers []json.RawMessage `json:"providers"`
	}
	if err := strictJSON(j, &top); err != nil {
		return nil, err
	}
	for i, raw := range top.Providers {
		var p ProviderConfig
		if err := strictJSON(raw, &p); err != nil {
			return nil, fmt.Errorf("providers[%d]: %v", i, err)
		}
		cfg.Providers = append(cfg.Providers, p)
	}
	err = cfg.Validate()
	return cfg, err
}

func strictJSON(b []byte, v any) error {
	if string(bytes.TrimSpace(b)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return fmt.Errorf("want a mapping, got %s", te.Value)
			}
			return fmt.Errorf("%s: want %s, got %s", te.Field, te.Type, te.Value)
		}
		return errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// Validate checks names (DNS labels, unique) and addresses (http or https
// URLs without path beyond "/", query or credentials). Only "cluster" may
// omit its address.
func (c *Config) Validate() error {
	var errs []error
	seen := map[string]int{}
	for i, p := range c.Providers {
		field := fmt.Sprintf("providers[%d]", i)
		fail := func(f, format string, a ...any) {
			errs = append(errs, fmt.Errorf("%s%s: %s", field, f, fmt.Sprintf(format, a...)))
		}
		if !providerName.MatchString(p.Name) {
			fail(".name", "%q: want a DNS label (lower-case letters, digits, '-', at most 63)", p.Name)
		} else if j, dup := seen[p.Name]; dup {
			fail(".name", "%q is already used by providers[%d]", p.Name, j)
		} else {
			seen[p.Name] = i
		}
		if p.Address == "" {
			if p.Name != ClusterProvider {
				fail(".address", "required (only the provider named %q may omit it: the gate's own cluster)", ClusterProvider)
			}
		} else if err := checkAddress(p.Address); err != nil {
			fail(".address", "%v", err)
		}
		if (p.ClientCertFile == "") != (p.ClientKeyFile == "") {
			fail("", "clientCertFile and clientKeyFile must be given together")
		}
		if p.Timeout.Duration < 0 || p.Timeout.Duration > 5*time.Minute {
			fail(".timeout", "%s: want between 0 (default 5s) and 5m", p.Timeout.Duration)
		}
	}
	return errors.Join(errs...)
}

func checkAddress(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("%q: want an https:// (or http://) URL", s)
	case u.Host == "":
		return fmt.Errorf("%q: no host", s)
	case u.User != nil:
		return fmt.Errorf("%q: credentials in the URL are not allowed (use tokenFile)", redactURL(u))
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q: no query or fragment allowed", s)
	}
	return nil
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// Provider returns the named provider's config, or nil.
func (c *Config) Provider(name string) *ProviderConfig {
	if c == nil {
		return nil
	}
	for i := range c.Providers {
		if c.Providers[i].Name == name {
			return &c.Providers[i]
		}
	}
	return nil
}
