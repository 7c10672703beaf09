package loadtest

// The configuration of a run (Config, defaults and limits, validation) and what it measures (Result).

import (
	"fmt"
	"net/url"
	"time"
)

// Defaults and limits of a run.
const (
	DefaultConcurrency = 8
	MaxConcurrency     = 256
	DefaultDuration    = 10 * time.Second
	MaxDuration        = 5 * time.Minute
	MaxRequests        = 100_000_000
	DefaultTimeout     = 10 * time.Second
)

// Config describes one load run. URLs is required; zero values elsewhere
// take the defaults above.
type Config struct {
	// URLs are requested in turn by every client (each client starts at a
	// different one). They must share one scheme and host, and the host must
	// be loopback.
	URLs        []string
	Concurrency int           // concurrent clients, default 8
	Connections int           // TCP connections the clients share, default one per client
	Duration    time.Duration // how long to send, default 10 s, at most MaxDuration
	Requests    int64         // stop after this many requests as well (0: duration only)
	Timeout     time.Duration // per request, default 10 s

	Token    string // bearer token (never printed)
	CAFile   string // PEM CA bundle that verifies the server
	CAPEM    []byte // same, in memory
	Insecure bool   // skip TLS verification

	// RequireHTTP2 fails the run when the server does not answer over HTTP/2.
	RequireHTTP2 bool

	// PID, when not 0, is the server's process: its memory and CPU time are
	// read from /proc/<PID>. Otherwise MetricsURL (default <scheme>://<host>/metrics)
	// is scraped for process_resident_memory_bytes and process_cpu_seconds_total.
	PID        int
	MetricsURL string

	// Client is ClientNetHTTP (default) or ClientFramer. The framer client
	// needs https and one connection per client.
	Client string

	Resolver Resolver // default net.DefaultResolver (tests inject one)
}

// Result is what a run measured. Durations are in milliseconds or seconds as
// their names say, so the JSON form reads without conversion.
type Result struct {
	Target       string  `json:"target"` // the first URL
	Paths        int     `json:"paths"`  // how many distinct URLs were cycled through
	Protocol     string  `json:"protocol"`
	Client       string  `json:"client"`
	Concurrency  int     `json:"concurrency"`
	Connections  int     `json:"connections"`
	DurationSec  float64 `json:"durationLimitSeconds"`
	RequestLimit int64   `json:"requestLimit,omitempty"`
	ElapsedSec   float64 `json:"elapsedSeconds"`
	Interrupted  bool    `json:"interrupted,omitempty"`

	Requests        uint64            `json:"requests"`  // responses + transport errors
	Responses       uint64            `json:"responses"` // any status
	OK              uint64            `json:"ok"`        // 2xx
	Errors          uint64            `json:"errors"`    // non-2xx + transport errors
	RequestsPerSec  float64           `json:"requestsPerSecond"`
	Status          map[string]uint64 `json:"status"`
	TransportErrors map[string]uint64 `json:"transportErrors,omitempty"`
	BytesReceived   uint64            `json:"bytesReceived"` // response bodies
	Latency         Latency           `json:"latencyMs"`

	// First answer, from the warm-up request.
	FirstStatus int    `json:"firstStatus"`
	FirstKind   string `json:"firstKind,omitempty"`
	FirstItems  int    `json:"firstItems"`

	Server           *ServerStats `json:"server,omitempty"`
	ClientCPUSeconds float64      `json:"clientCpuSeconds"`
	LoadAvgStart     [3]float64   `json:"loadAverageStart"`
	LoadAvgEnd       [3]float64   `json:"loadAverageEnd"`
	Ready            *ReadyStats  `json:"ready,omitempty"` // set by Spawn callers
}

// Latency summarises the latency of every response (all statuses), from
// sending the request to reading the last body byte, in milliseconds.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// ServerStats is the server's resource use.
type ServerStats struct {
	Source       string  `json:"source"`                 // "/proc/<pid>" or the metrics URL
	RSSBytes     uint64  `json:"rssBytes,omitempty"`     // after the load
	PeakRSSBytes uint64  `json:"peakRssBytes,omitempty"` // VmHWM, with a PID only
	AnonRSSBytes uint64  `json:"anonRssBytes,omitempty"` // RssAnon (heap, stacks), with a PID only
	FileRSSBytes uint64  `json:"fileRssBytes,omitempty"` // RssFile (mostly executable pages), with a PID only
	IdleRSSBytes uint64  `json:"idleRssBytes,omitempty"` // before the load
	CPUSeconds   float64 `json:"cpuSeconds,omitempty"`   // used during the load
	Note         string  `json:"note,omitempty"`         // why something is missing
}

// ReadyStats is how fast a spawned server came up.
type ReadyStats struct {
	ListeningMs float64 `json:"listeningMs"` // exec start to the printed listening line
	ReadyMs     float64 `json:"readyMs"`     // exec start to the first 200 from /readyz
}

// ConfigError is a wrong setting in a Config (the caller's usage error).
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

func configErrorf(format string, a ...any) error { return &ConfigError{Msg: fmt.Sprintf(format, a...)} }

func (c *Config) normalize() (*url.URL, error) {
	if len(c.URLs) == 0 {
		return nil, configErrorf("no target URL")
	}
	var first *url.URL
	for _, raw := range c.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, configErrorf("target URL %q: %v", raw, err)
		}
		if u.Scheme != "https" && u.Scheme != "http" {
			return nil, configErrorf("target URL %q: scheme must be https or http", raw)
		}
		if u.Host == "" {
			return nil, configErrorf("target URL %q: no host", raw)
		}
		if u.User != nil {
			return nil, configErrorf("target URL %q: user information is not allowed (use a token)", redactURL(u))
		}
		if first == nil {
			first = u
		} else if u.Scheme != first.Scheme || u.Host != first.Host {
			return nil, configErrorf("target URLs must share one scheme and host: %q and %q", first.Scheme+"://"+first.Host, u.Scheme+"://"+u.Host)
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		return nil, configErrorf("concurrency %d: must be between 1 and %d", c.Concurrency, MaxConcurrency)
	}
	if c.Connections == 0 {
		c.Connections = c.Concurrency
	}
	if c.Connections < 1 || c.Connections > c.Concurrency {
		return nil, configErrorf("connections %d: must be between 1 and the concurrency (%d)", c.Connections, c.Concurrency)
	}
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Duration < 0 || c.Duration > MaxDuration {
		return nil, configErrorf("duration %v: must be positive and at most %v", c.Duration, MaxDuration)
	}
	if c.Requests < 0 || c.Requests > MaxRequests {
		return nil, configErrorf("requests %d: must be between 0 (no limit) and %d", c.Requests, MaxRequests)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return nil, configErrorf("timeout %v: must be positive", c.Timeout)
	}
	if c.Insecure && (c.CAFile != "" || len(c.CAPEM) > 0) {
		return nil, configErrorf("a CA and skipping TLS verification exclude each other")
	}
	switch c.Client {
	case "":
		c.Client = ClientNetHTTP
	case ClientNetHTTP:
	case ClientFramer:
		if first.Scheme != "https" {
			return nil, configErrorf("the framer client speaks HTTP/2 over TLS only: use an https URL")
		}
		if c.Connections != c.Concurrency {
			return nil, configErrorf("the framer client uses one connection per client: connections must equal concurrency (%d)", c.Concurrency)
		}
	default:
		return nil, configErrorf("client %q: want %q or %q", c.Client, ClientNetHTTP, ClientFramer)
	}
	if c.PID < 0 {
		return nil, configErrorf("pid %d: must be positive", c.PID)
	}
	return first, nil
}

func redactURL(u *url.URL) string {
	v := *u
	v.User = nil
	return v.String()
}

// Validate checks a configuration as Run would, without resolving or
// sending anything.
func Validate(cfg Config) error {
	_, err := cfg.normalize()
	return err
}
