package loadtest

// The server sampler: the server's memory and CPU before and after the run, from /proc or its /metrics.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/extmetrics/extmetrics/internal/procstat"
)

// serverSampler reads the server's memory and CPU before and after the load.
type serverSampler struct {
	pid        int
	metricsURL string
	newReq     func(string) (*http.Request, error)
	client     *http.Client

	idleRSS uint64
	cpu0    float64
	haveCPU bool
}

func newServerSampler(cfg Config, target *url.URL, newReq func(string) (*http.Request, error), c *http.Client) *serverSampler {
	s := &serverSampler{pid: cfg.PID, metricsURL: cfg.MetricsURL, newReq: newReq, client: c}
	if s.metricsURL == "" {
		s.metricsURL = (&url.URL{Scheme: target.Scheme, Host: target.Host, Path: "/metrics"}).String()
	}
	return s
}

func (s *serverSampler) before() {
	if s.pid != 0 {
		if m, err := procstat.ReadProcMemory(s.pid); err == nil {
			s.idleRSS = m.RSS
		}
		if c, err := procstat.ReadProcCPU(s.pid); err == nil {
			s.cpu0, s.haveCPU = c.Seconds(), true
		}
		return
	}
	text, err := s.scrape()
	if err != nil {
		return
	}
	if v, ok := procstat.MetricValue(text, "process_resident_memory_bytes"); ok {
		s.idleRSS = uint64(v)
	}
	if v, ok := procstat.MetricValue(text, "process_cpu_seconds_total"); ok {
		s.cpu0, s.haveCPU = v, true
	}
}

func (s *serverSampler) after() *ServerStats {
	if s.pid != 0 {
		st := &ServerStats{Source: fmt.Sprintf("/proc/%d", s.pid), IdleRSSBytes: s.idleRSS}
		m, err := procstat.ReadProcMemory(s.pid)
		if err != nil {
			st.Note = "reading memory: " + err.Error()
			return st
		}
		st.RSSBytes, st.PeakRSSBytes, st.AnonRSSBytes, st.FileRSSBytes = m.RSS, m.Peak, m.Anon, m.File
		if c, err := procstat.ReadProcCPU(s.pid); err == nil && s.haveCPU {
			st.CPUSeconds = c.Seconds() - s.cpu0
		}
		return st
	}
	st := &ServerStats{Source: s.metricsURL, IdleRSSBytes: s.idleRSS}
	text, err := s.scrape()
	if err != nil {
		st.Note = err.Error()
		return st
	}
	v, ok := procstat.MetricValue(text, "process_resident_memory_bytes")
	if !ok {
		st.Note = "the server's metrics have no process_resident_memory_bytes (give its PID instead)"
		return st
	}
	st.RSSBytes = uint64(v)
	if c, ok := procstat.MetricValue(text, "process_cpu_seconds_total"); ok && s.haveCPU {
		st.CPUSeconds = c - s.cpu0
	}
	return st
}

func (s *serverSampler) scrape() ([]byte, error) {
	req, err := s.newReq(s.metricsURL)
	if err != nil {
		return nil, fmt.Errorf("metrics URL: %v", err)
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %v", s.metricsURL, errorKind(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %v", s.metricsURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", s.metricsURL, resp.Status)
	}
	return body, nil
}
