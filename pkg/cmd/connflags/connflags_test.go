package connflags

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/extmetrics/extmetrics/internal/testenv"
	"github.com/extmetrics/extmetrics/pkg/provider"
)

var allEnv = []string{EnvServer, EnvKubeconfig, EnvContext, EnvToken, EnvTokenFile, EnvCAFile,
	EnvClientCert, EnvClientKey, EnvInsecure, EnvTimeout}

// isolate keeps the machine's kubeconfig, a pod's service account and
// EXTMETRICS_* variables out of the test.
func isolate(t *testing.T) { testenv.Isolate(t) }

// testenv.Isolate clears EXTMETRICS_*: every variable must be named so.
func TestEnvNamesIsolated(t *testing.T) {
	for _, e := range allEnv {
		if !strings.HasPrefix(e, "EXTMETRICS_") {
			t.Errorf("%s: testenv.Isolate would not clear it", e)
		}
	}
}

func parse(t *testing.T, args ...string) (*Flags, *pflag.FlagSet, error) {
	t.Helper()
	var f Flags
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	f.AddFlags(fs)
	err := fs.Parse(args)
	return &f, fs, err
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	isolate(t)
	f, _, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if f.Timeout != DefaultTimeout || f.Server != "" || f.Insecure || f.Token != "" {
		t.Fatalf("defaults: %+v", f)
	}
	if err := f.Validate(); err != nil {
		t.Fatal(err)
	}
	if src := f.Source("server"); src != "" {
		t.Fatalf("source of unset flag: %q", src)
	}
}

func TestEnvironmentDefaultsAndFlagsOverride(t *testing.T) {
	isolate(t)
	tokFile := writeFile(t, "token", "file-token\n")
	t.Setenv(EnvServer, "https://env.example:8443")
	t.Setenv(EnvContext, "ctx-from-env")
	t.Setenv(EnvToken, "s3cr3t-env-token")
	t.Setenv(EnvCAFile, tokFile)
	t.Setenv(EnvInsecure, "true")
	t.Setenv(EnvTimeout, "9s")

	f, fs, err := parse(t, "--server", "https://flag.example")
	if err != nil {
		t.Fatal(err)
	}
	if f.Server != "https://flag.example" || f.Context != "ctx-from-env" || f.Token != "s3cr3t-env-token" ||
		!f.Insecure || f.Timeout != 9*time.Second || f.CAFile != tokFile {
		t.Fatalf("got %+v", f)
	}
	for name, want := range map[string]string{
		"server": "flag --server", "token": "env " + EnvToken, "timeout": "env " + EnvTimeout,
		"insecure-skip-tls-verify": "env " + EnvInsecure, "token-file": "",
	} {
		if got := f.Source(name); got != want {
			t.Errorf("Source(%q) = %q, want %q", name, got, want)
		}
	}
	// The environment's token must not show up as a default in help output.
	if usage := fs.FlagUsages(); strings.Contains(usage, "s3cr3t-env-token") {
		t.Fatalf("help shows the token:\n%s", usage)
	} else if !strings.Contains(usage, EnvToken) || !strings.Contains(usage, "https://env.example:8443") {
		t.Fatalf("help does not name the environment variables / non-secret defaults:\n%s", usage)
	}
	d := f.Describe()
	if d.Token != "env "+EnvToken || d.Server != "flag --server" || !d.Insecure {
		t.Fatalf("describe: %+v", d)
	}
}

func TestBadEnvironmentValues(t *testing.T) {
	for env, val := range map[string]string{EnvTimeout: "soon", EnvInsecure: "maybe"} {
		t.Run(env, func(t *testing.T) {
			isolate(t)
			t.Setenv(env, val)
			f, _, err := parse(t)
			if err != nil {
				t.Fatal(err)
			}
			err = f.Validate()
			if err == nil || !strings.Contains(err.Error(), env) || !strings.Contains(err.Error(), val) {
				t.Fatalf("Validate: %v", err)
			}
			if _, err := f.BaseConfig(); err == nil {
				t.Fatal("BaseConfig accepted a bad environment")
			}
		})
	}
}

func TestValidate(t *testing.T) {
	isolate(t)
	file := writeFile(t, "f", "x")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"--client-cert", file}, "--client-cert and --client-key go together"},
		{[]string{"--client-key", file}, "--client-cert and --client-key go together"},
		{[]string{"--token", "abc", "--token-file", file}, "exclusive"},
		{[]string{"--server", "127.0.0.1:8443"}, "want a URL"},
		{[]string{"--ca-file", filepath.Join(t.TempDir(), "nope")}, "--ca-file"},
		{[]string{"--token-file", t.TempDir()}, "is a directory"},
	}
	for _, c := range cases {
		f, _, err := parse(t, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		err = f.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: Validate = %v, want %q", c.args, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "abc") {
			t.Errorf("%v: error shows the token: %v", c.args, err)
		}
	}
}

func TestBaseConfigServerWithoutKubeconfig(t *testing.T) {
	isolate(t)
	f, _, _ := parse(t, "--server", "https://127.0.0.1:1")
	cfg, err := f.BaseConfig()
	if err != nil || cfg != nil {
		t.Fatalf("BaseConfig = %v, %v; want nil, nil", cfg, err)
	}
	if d := f.Describe(); d.Base != "none" {
		t.Fatalf("describe: %+v", d)
	}
}

func TestBaseConfigNothingFound(t *testing.T) {
	isolate(t)
	f, _, _ := parse(t)
	_, err := f.BaseConfig()
	if err == nil || !strings.Contains(err.Error(), "no server") || !strings.Contains(err.Error(), "--kubeconfig") {
		t.Fatalf("BaseConfig: %v", err)
	}
}

func TestBaseConfigExplicitKubeconfigMissing(t *testing.T) {
	isolate(t)
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	f, _, _ := parse(t, "--server", "https://127.0.0.1:1", "--kubeconfig", missing)
	if _, err := f.BaseConfig(); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("BaseConfig with a missing --kubeconfig: %v", err)
	}
}

func writeKubeconfig(t *testing.T) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	for _, n := range []string{"one", "two"} {
		c := clientcmdapi.NewCluster()
		c.Server = "https://" + n + ".example:6443"
		cfg.Clusters[n] = c
		u := clientcmdapi.NewAuthInfo()
		u.Token = "kubeconfig-token-" + n
		cfg.AuthInfos[n] = u
		k := clientcmdapi.NewContext()
		k.Cluster, k.AuthInfo = n, n
		cfg.Contexts[n] = k
	}
	cfg.CurrentContext = "one"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBaseConfigKubeconfigAndContext(t *testing.T) {
	isolate(t)
	kc := writeKubeconfig(t)

	f, _, _ := parse(t, "--kubeconfig", kc)
	cfg, err := f.BaseConfig()
	if err != nil || cfg.Host != "https://one.example:6443" || cfg.BearerToken != "kubeconfig-token-one" {
		t.Fatalf("current context: %+v, %v", cfg, err)
	}
	if d := f.Describe(); !strings.Contains(d.Base, kc) || !strings.Contains(d.Base, `"one"`) || d.Token != "base config" {
		t.Fatalf("describe: %+v", d)
	}

	f, _, _ = parse(t, "--kubeconfig", kc, "--context", "two")
	if cfg, err = f.BaseConfig(); err != nil || cfg.Host != "https://two.example:6443" {
		t.Fatalf("--context two: %+v, %v", cfg, err)
	}

	// KUBECONFIG is honoured like kubectl does.
	t.Setenv("KUBECONFIG", kc)
	f, _, _ = parse(t, "--context", "two")
	if cfg, err = f.BaseConfig(); err != nil || cfg.Host != "https://two.example:6443" {
		t.Fatalf("KUBECONFIG: %+v, %v", cfg, err)
	}

	f, _, _ = parse(t, "--context", "three")
	if _, err = f.BaseConfig(); err == nil || !strings.Contains(err.Error(), "three") {
		t.Fatalf("unknown context: %v", err)
	}
}

func TestSpecAndOptions(t *testing.T) {
	isolate(t)
	file := writeFile(t, "f", "x")
	f, _, _ := parse(t, "--server", "https://x.example", "--token", "tok", "--insecure-skip-tls-verify",
		"--ca-file", file, "--client-cert", file, "--client-key", file, "--timeout", "2s")
	s := f.Spec()
	if s.Address != "https://x.example" || !s.InsecureSkipVerify || string(s.SecretData[provider.SecretKeyToken]) != "tok" {
		t.Fatalf("spec: %+v", s)
	}
	o := f.Options()
	if o.Timeout != 2*time.Second || o.CAFile != file || o.ClientCert != file || o.ClientKey != file || o.TokenFile != "" {
		t.Fatalf("options: %+v", o)
	}
	f, _, _ = parse(t, "--token-file", file)
	if s := f.Spec(); s.SecretData != nil {
		t.Fatalf("no token: secret data %v", s.SecretData)
	}
	if o := f.Options(); o.TokenFile != file {
		t.Fatalf("token file: %+v", o)
	}
	if d := f.Describe(); d.Token != "file "+file+" (flag --token-file)" {
		t.Fatalf("describe: %+v", d)
	}
}
