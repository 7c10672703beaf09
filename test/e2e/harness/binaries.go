package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/extmetrics/extmetrics/internal/ctlbuild"
)

// DefaultKubeAPIServerVersion is the kube-apiserver the harness builds.
const DefaultKubeAPIServerVersion = "v1.37.2"

// GoEtcdVersion is the etcd built from go.etcd.io/etcd/server/v3 when
// Debian's etcd-server package cannot be had (EtcdSource "go").
const GoEtcdVersion = "v3.6.16"

// Where etcd comes from (BinaryOptions.EtcdSource).
const (
	EtcdFromDebian = "debian" // apt-get download etcd-server + dpkg-deb -x
	EtcdFromGo     = "go"     // go build go.etcd.io/etcd/server/v3@GoEtcdVersion
)

// Environment variables that point the harness at binaries you already have
// (they are used as they are, not copied into the cache).
const (
	EnvKubeAPIServer = "EXTMETRICS_E2E_KUBE_APISERVER"
	EnvEtcd          = "EXTMETRICS_E2E_ETCD"
)

// The recipe for kube-apiserver: a throwaway module requiring
// k8s.io/kubernetes with every k8s.io staging module replaced by its
// matching v0 version. These are, byte for byte, the files the integrator's
// cache warm-up uses, so a machine with a warm Go build cache only links.
var (
	//go:embed recipe/kube-apiserver.go.mod
	recipeGoMod []byte
	//go:embed recipe/kube-apiserver.go.sum
	recipeGoSum []byte
	//go:embed recipe/kube-apiserver.tools.go.txt
	recipeTools []byte
)

// Binaries are the paths and versions of the control-plane programs.
type Binaries struct {
	KubeAPIServer        string
	KubeAPIServerVersion string
	Etcd                 string
	EtcdVersion          string
}

// BinaryOptions say where binaries are cached and which versions to use.
type BinaryOptions struct {
	// CacheDir holds <name>-<version>/ folders; default
	// ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics/e2e.
	CacheDir string
	// KubeAPIServerVersion defaults to DefaultKubeAPIServerVersion.
	KubeAPIServerVersion string
	// EtcdVersion ("3.4.23") picks a cached etcd; "" takes any cached one,
	// else Debian's etcd-server package.
	EtcdVersion string
	// EtcdSource is where a missing etcd comes from: EtcdFromDebian,
	// EtcdFromGo, or "" for Debian's package and, when that fails (no
	// apt-get, no such package), a build from the module proxy.
	EtcdSource string
	// Log receives progress lines (builds, downloads, waits); default os.Stderr.
	Log io.Writer
}

func (o *BinaryOptions) defaults() error {
	if o.CacheDir == "" {
		dir, err := DefaultCacheDir()
		if err != nil {
			return err
		}
		o.CacheDir = dir
	}
	if o.KubeAPIServerVersion == "" {
		o.KubeAPIServerVersion = DefaultKubeAPIServerVersion
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	return nil
}

// DefaultCacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/extmetrics/e2e.
func DefaultCacheDir() (string, error) { return ctlbuild.CacheDir("e2e") }

// lockFile takes an exclusive flock on path (created if needed), waiting
// while another process holds it (said once on log), until ctx is done. The
// lock goes with the process, so a killed build never leaves it behind.
func lockFile(ctx context.Context, path string, log io.Writer) (unlock func(), err error) {
	return ctlbuild.Lock(ctx, path, func() { fmt.Fprintf(log, "harness: waiting for another process holding %s\n", path) })
}

// EnsureBinaries returns kube-apiserver and etcd, building or unpacking
// them into the cache first when they are not there. A file lock per binary
// makes parallel test processes wait for one build instead of each doing
// it. A cold kube-apiserver build takes minutes (about 10 on 2 cores with a
// cold Go build cache); call this from TestMain (before m.Run, so the test
// timeout does not count it) or run cmd/e2e-binaries beforehand.
func EnsureBinaries(ctx context.Context, opts BinaryOptions) (Binaries, error) {
	if err := opts.defaults(); err != nil {
		return Binaries{}, err
	}
	var b Binaries
	var err error
	b.KubeAPIServer, b.KubeAPIServerVersion, err = ensureKubeAPIServer(ctx, opts)
	if err != nil {
		return Binaries{}, fmt.Errorf("kube-apiserver %s: %w", opts.KubeAPIServerVersion, err)
	}
	b.Etcd, b.EtcdVersion, err = ensureEtcd(ctx, opts)
	if err != nil {
		return Binaries{}, fmt.Errorf("etcd: %w", err)
	}
	return b, nil
}

// recipe returns the files of the throwaway module for version.
func recipe(version string) (goMod, goSum []byte, err error) {
	if version == DefaultKubeAPIServerVersion {
		return recipeGoMod, recipeGoSum, nil
	}
	// Another version: the same module with its staging versions; go.sum
	// is filled in by -mod=mod.
	m := regexp.MustCompile(`^v1\.(\d+)\.(\d+)$`).FindStringSubmatch(version)
	if m == nil {
		return nil, nil, fmt.Errorf("version %q: want v1.<minor>.<patch>", version)
	}
	staging := "v0." + m[1] + "." + m[2]
	var out bytes.Buffer
	for _, line := range strings.Split(string(recipeGoMod), "\n") {
		line = strings.ReplaceAll(line, "k8s.io/kubernetes "+DefaultKubeAPIServerVersion, "k8s.io/kubernetes "+version)
		if i := strings.Index(line, "=> "); i >= 0 {
			if j := strings.LastIndex(line, " v0."); j > i {
				line = line[:j+1] + staging
			}
		}
		out.WriteString(line + "\n")
	}
	return bytes.TrimSuffix(out.Bytes(), []byte("\n")), nil, nil
}

func ensureKubeAPIServer(ctx context.Context, opts BinaryOptions) (string, string, error) {
	version := opts.KubeAPIServerVersion
	if p := os.Getenv(EnvKubeAPIServer); p != "" {
		return p, versionOf(ctx, p, `Kubernetes (v\S+)`), nil
	}
	goMod, goSum, err := recipe(version)
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(append(append([]byte{}, goMod...), recipeTools...))
	stamp := fmt.Sprintf("%x\n", sum[:8])
	dir := filepath.Join(opts.CacheDir, "kube-apiserver-"+version)
	bin := filepath.Join(dir, "kube-apiserver")
	if cached(bin, filepath.Join(dir, "recipe"), stamp) {
		return bin, version, nil
	}
	unlock, err := lockFile(ctx, filepath.Join(opts.CacheDir, "kube-apiserver-"+version+".lock"), opts.Log)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if cached(bin, filepath.Join(dir, "recipe"), stamp) { // built while we waited
		return bin, version, nil
	}
	goBin, err := goTool()
	if err != nil {
		return "", "", err
	}
	work, err := os.MkdirTemp(opts.CacheDir, ".build-kube-apiserver-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(work)
	files := map[string][]byte{"go.mod": goMod, "tools.go": recipeTools}
	if goSum != nil {
		files["go.sum"] = goSum
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
			return "", "", err
		}
	}
	minor := strings.Split(strings.TrimPrefix(version, "v"), ".")[1]
	ldflags := fmt.Sprintf("-X k8s.io/component-base/version.gitVersion=%s -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=%s", version, minor)
	fmt.Fprintf(opts.Log, "harness: building kube-apiserver %s into %s (cold Go build cache: about 10 min and 2.5 GB on 2 cores; warm: about 1 min)\n", version, dir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(work, "kube-apiserver"), "-ldflags", ldflags, "k8s.io/kubernetes/cmd/kube-apiserver")
	cmd.Dir = work
	// GOFLAGS replaces any setting in go env (such as -buildvcs=false) so
	// the build is the same as the warm-up's; GOWORK=off keeps a go.work of
	// the caller's checkout out of it.
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", "", fmt.Errorf("go build k8s.io/kubernetes/cmd/kube-apiserver: %v\n%s", err, tail(out.String(), 40))
	}
	got := versionOf(ctx, filepath.Join(work, "kube-apiserver"), `Kubernetes (v\S+)`)
	if got != version {
		return "", "", fmt.Errorf("built binary reports version %q, want %q", got, version)
	}
	if err := install(filepath.Join(work, "kube-apiserver"), dir, "kube-apiserver", stamp); err != nil {
		return "", "", err
	}
	fmt.Fprintf(opts.Log, "harness: built kube-apiserver %s in %s\n", version, time.Since(start).Round(time.Second))
	return bin, version, nil
}

func ensureEtcd(ctx context.Context, opts BinaryOptions) (string, string, error) {
	if p := os.Getenv(EnvEtcd); p != "" {
		return p, versionOf(ctx, p, `etcd Version: (\S+)`), nil
	}
	if bin, v := findCachedEtcd(ctx, opts); bin != "" {
		return bin, v, nil
	}
	unlock, err := lockFile(ctx, filepath.Join(opts.CacheDir, "etcd.lock"), opts.Log)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if bin, v := findCachedEtcd(ctx, opts); bin != "" {
		return bin, v, nil
	}
	switch opts.EtcdSource {
	case EtcdFromDebian:
		return unpackDebianEtcd(ctx, opts)
	case EtcdFromGo:
		return buildGoEtcd(ctx, opts)
	case "":
		bin, v, err := unpackDebianEtcd(ctx, opts)
		if err == nil {
			return bin, v, nil
		}
		fmt.Fprintf(opts.Log, "harness: Debian's etcd-server: %v\nharness: building etcd %s from the module proxy instead\n", err, GoEtcdVersion)
		bin, v, gerr := buildGoEtcd(ctx, opts)
		if gerr != nil {
			return "", "", fmt.Errorf("etcd-server from Debian: %v; building etcd %s: %w", err, GoEtcdVersion, gerr)
		}
		return bin, v, nil
	}
	return "", "", fmt.Errorf("unknown etcd source %q (want %q or %q)", opts.EtcdSource, EtcdFromDebian, EtcdFromGo)
}

// buildGoEtcd builds etcd's server (go.etcd.io/etcd/server/v3, whose module
// root is its main package) in a throwaway module, as for kube-apiserver.
func buildGoEtcd(ctx context.Context, opts BinaryOptions) (string, string, error) {
	goBin, err := goTool()
	if err != nil {
		return "", "", err
	}
	work, err := os.MkdirTemp(opts.CacheDir, ".build-etcd-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(work)
	goMod := "module etcdbuild\n\ngo 1.26.0\n\nrequire go.etcd.io/etcd/server/v3 " + GoEtcdVersion + "\n"
	if err := os.WriteFile(filepath.Join(work, "go.mod"), []byte(goMod), 0o644); err != nil {
		return "", "", err
	}
	fmt.Fprintf(opts.Log, "harness: building etcd %s from the module proxy into %s\n", GoEtcdVersion, opts.CacheDir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", filepath.Join(work, "etcd"), "go.etcd.io/etcd/server/v3")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", "", fmt.Errorf("go build go.etcd.io/etcd/server/v3@%s: %v\n%s", GoEtcdVersion, err, tail(string(out), 40))
	}
	v := versionOf(ctx, filepath.Join(work, "etcd"), `etcd Version: (\S+)`)
	if v == "" {
		return "", "", fmt.Errorf("built etcd %s reports no version", GoEtcdVersion)
	}
	dir := filepath.Join(opts.CacheDir, "etcd-v"+v)
	if err := install(filepath.Join(work, "etcd"), dir, "etcd", "go.etcd.io/etcd/server/v3@"+GoEtcdVersion+"\n"); err != nil {
		return "", "", err
	}
	fmt.Fprintf(opts.Log, "harness: built etcd %s in %s\n", v, time.Since(start).Round(time.Second))
	return filepath.Join(dir, "etcd"), v, nil
}

// findCachedEtcd returns the cached etcd of the wanted version, or the
// newest cached one when no version is asked for.
func findCachedEtcd(ctx context.Context, opts BinaryOptions) (string, string) {
	pattern := "etcd-v*"
	if opts.EtcdVersion != "" {
		pattern = "etcd-v" + strings.TrimPrefix(opts.EtcdVersion, "v")
	}
	dirs, _ := filepath.Glob(filepath.Join(opts.CacheDir, pattern))
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		bin := filepath.Join(d, "etcd")
		if !cached(bin, filepath.Join(d, "recipe"), "") {
			continue
		}
		if v := versionOf(ctx, bin, `etcd Version: (\S+)`); v != "" {
			return bin, v
		}
	}
	return "", ""
}

// unpackDebianEtcd fetches Debian's etcd-server package with apt-get
// download (no installation, no root needed when the package lists are
// there) and unpacks its etcd binary with dpkg-deb into the cache.
func unpackDebianEtcd(ctx context.Context, opts BinaryOptions) (string, string, error) {
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", "", fmt.Errorf("no cached etcd in %s and %s not found: on a non-Debian machine set %s to an etcd 3.4+ binary", opts.CacheDir, tool, EnvEtcd)
		}
	}
	work, err := os.MkdirTemp(opts.CacheDir, ".unpack-etcd-")
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(work)
	fmt.Fprintf(opts.Log, "harness: fetching Debian's etcd-server package into %s\n", opts.CacheDir)
	download := func() ([]byte, error) {
		cmd := exec.CommandContext(ctx, "apt-get", "download", "etcd-server")
		cmd.Dir = work
		return cmd.CombinedOutput()
	}
	out, err := download()
	if err != nil && os.Geteuid() == 0 {
		// A fresh machine may have no package lists yet.
		if upd, uerr := exec.CommandContext(ctx, "apt-get", "update").CombinedOutput(); uerr != nil {
			return "", "", fmt.Errorf("apt-get update: %v\n%s", uerr, tail(string(upd), 10))
		}
		out, err = download()
	}
	if err != nil {
		return "", "", fmt.Errorf("apt-get download etcd-server: %v\n%s", err, tail(string(out), 10))
	}
	debs, _ := filepath.Glob(filepath.Join(work, "etcd-server_*.deb"))
	if len(debs) != 1 {
		return "", "", fmt.Errorf("apt-get download etcd-server: want one .deb, found %d", len(debs))
	}
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], filepath.Join(work, "root")).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("dpkg-deb -x %s: %v\n%s", filepath.Base(debs[0]), err, tail(string(out), 10))
	}
	bin := filepath.Join(work, "root", "usr", "bin", "etcd")
	v := versionOf(ctx, bin, `etcd Version: (\S+)`)
	if v == "" {
		return "", "", fmt.Errorf("%s: %s --version reports no version", filepath.Base(debs[0]), bin)
	}
	dir := filepath.Join(opts.CacheDir, "etcd-v"+v)
	if err := install(bin, dir, "etcd", filepath.Base(debs[0])+"\n"); err != nil {
		return "", "", err
	}
	fmt.Fprintf(opts.Log, "harness: etcd %s from %s\n", v, filepath.Base(debs[0]))
	return filepath.Join(dir, "etcd"), v, nil
}

// cached reports whether bin is an executable file and, when stamp is not
// "", whether stampFile holds exactly stamp (the recipe it was built from).
func cached(bin, stampFile, stamp string) bool {
	fi, err := os.Stat(bin)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return false
	}
	if stamp == "" {
		return true
	}
	got, err := os.ReadFile(stampFile)
	return err == nil && string(got) == stamp
}

// install moves src to dir/name (same file system: both live in the cache)
// and writes the stamp last, so a half-installed binary is never taken.
func install(src, dir, name, stamp string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(dir, "recipe"))
	if err := os.Rename(src, filepath.Join(dir, name)); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "recipe"), []byte(stamp), 0o644)
}

// versionOf runs bin --version and returns the first match of pattern's
// group ("" when it does not run or does not match).
func versionOf(ctx context.Context, bin, pattern string) string {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(pattern).FindSubmatch(out)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// goTool finds the go command: the one on the PATH, else $GOROOT/bin/go.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("the go command is needed to build kube-apiserver and is not on the PATH")
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
