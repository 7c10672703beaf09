package procstat

import (
	"bytes"
	"os"
	"testing"
	"time"
)

func TestParseProcStatus(t *testing.T) {
	m, err := parseProcStatus([]byte("Name:\textmetrics\nVmPeak:\t 1262008 kB\nVmHWM:\t   21504 kB\nVmRSS:\t   18432 kB\nRssAnon:\t    6144 kB\nRssFile:\t   12288 kB\nThreads:\t7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 18432*1024 || m.Peak != 21504*1024 || m.Anon != 6144*1024 || m.File != 12288*1024 {
		t.Errorf("got %+v", m)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tlots kB\n"} {
		if _, err := parseProcStatus([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (ext (metrics) x) S 1 4242 4242 0 -1 4194560 1021 0 0 0 250 75 0 0 20 0 7 0 123 456 789\n"
	d, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if d != 3250*time.Millisecond {
		t.Errorf("cpu = %v, want 3.25s", d)
	}
	if _, err := parseProcStat([]byte("1 (x) S 1 2 3 4 5 6 7 8 9 10 18446744073709551615 0")); err == nil {
		t.Error("overflowing utime: no error")
	}
	if _, err := parseProcStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("short line: no error")
	}
}

func TestReadOwnProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc on this system")
	}
	m, err := ReadProcMemory(os.Getpid())
	if err != nil || m.RSS == 0 || m.Peak < m.RSS {
		t.Errorf("memory %+v, %v", m, err)
	}
	if _, err := ReadProcCPU(os.Getpid()); err != nil {
		t.Error(err)
	}
	if _, err := LoadAverage(); err != nil {
		t.Error(err)
	}
}

func TestMetricValue(t *testing.T) {
	text := []byte("# HELP process_resident_memory_bytes Resident memory size in bytes.\n" +
		"process_resident_memory_bytes_total 1\n" +
		"process_resident_memory_bytes{x=\"y\"} 2\n" +
		"process_resident_memory_bytes 1.5e+07\n")
	if v, ok := MetricValue(text, "process_resident_memory_bytes"); !ok || v != 1.5e7 {
		t.Errorf("got %v %v", v, ok)
	}
	if _, ok := MetricValue(text, "process_cpu_seconds_total"); ok {
		t.Error("found a missing metric")
	}
}

// The parsers read what another process wrote: no input may panic them.
func FuzzParseProcFiles(f *testing.F) {
	f.Add([]byte("VmHWM:\t 2 kB\nVmRSS:\t 1 kB\n"))
	f.Add([]byte("1 (a) S 1 2 3 4 5 6 7 8 9 10 11 12 13\n"))
	f.Add([]byte("process_resident_memory_bytes 1e6\nprocess_resident_memory_bytes{a=\"b\"} 2\n"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if m, err := parseProcStatus(data); err == nil && m.RSS == 0 && !bytes.Contains(data, []byte("VmRSS")) {
			t.Fatalf("RSS accepted without a VmRSS line: %+v", m)
		}
		if d, err := parseProcStat(data); err == nil && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
		MetricValue(data, "process_resident_memory_bytes")
	})
}
