package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// ProcMemory is a process's memory as the kernel reports it in /proc/<pid>/status.
type ProcMemory struct {
	RSS  uint64 // VmRSS, bytes
	Peak uint64 // VmHWM (peak RSS), bytes
	Anon uint64 // RssAnon: heap, stacks and other private memory, bytes
	File uint64 // RssFile: mapped files, mostly the executable's pages, bytes
}

// ReadProcMemory reads VmRSS and VmHWM from /proc/<pid>/status.
func ReadProcMemory(pid int) (ProcMemory, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcMemory{}, err
	}
	return parseProcStatus(data)
}

func parseProcStatus(data []byte) (ProcMemory, error) {
	var m ProcMemory
	var haveRSS bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		var dst *uint64
		switch key {
		case "VmRSS":
			dst, haveRSS = &m.RSS, true
		case "VmHWM":
			dst = &m.Peak
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		}
		if !ok || dst == nil {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return ProcMemory{}, fmt.Errorf("/proc status: unexpected %s line %q", key, sc.Text())
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err == nil && kb > 1<<40 {
			err = fmt.Errorf("%d kB is implausible", kb)
		}
		if err != nil {
			return ProcMemory{}, fmt.Errorf("/proc status: %s: %v", key, err)
		}
		*dst = kb * 1024
	}
	if !haveRSS {
		return ProcMemory{}, fmt.Errorf("/proc status: no VmRSS line")
	}
	return m, nil
}

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ReadProcCPU returns the user+system CPU time a process has used so far,
// from /proc/<pid>/stat.
func ReadProcCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(data)
}

func parseProcStat(data []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat: no command field")
	}
	f := strings.Fields(string(data[i+1:]))
	// After the command: state(3) ... utime(14) stime(15), i.e. indexes 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: only %d fields", len(f)+2)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil || ut > 1<<40 || st > 1<<40 { // 2^40 ticks: 348 years
		return 0, fmt.Errorf("/proc stat: bad utime/stime %q %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// LoadAverage reads the 1-, 5- and 15-minute load averages from /proc/loadavg.
func LoadAverage() ([3]float64, error) {
	var la [3]float64
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return la, err
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return la, fmt.Errorf("/proc/loadavg: unexpected %q", data)
	}
	for i := range la {
		if la[i], err = strconv.ParseFloat(f[i], 64); err != nil {
			return la, fmt.Errorf("/proc/loadavg: %v", err)
		}
	}
	return la, nil
}

// MetricValue finds an unlabelled sample of name in Prometheus text
// exposition format; ok is false when it is absent.
func MetricValue(text []byte, name string) (v float64, ok bool) {
	sc := bufio.NewScanner(bytes.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		rest, found := strings.CutPrefix(line, name)
		if !found || rest == "" || (rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		x, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		return x, true
	}
	return 0, false
}
