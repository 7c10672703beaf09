package devserver

import (
	"context"
	"errors"
	"os"
	"runtime/debug"
	"time"

	"github.com/extmetrics/extmetrics/pkg/scenario"
)

// Reload reads the scenario file again and, when it parses, swaps it in
// atomically (requests in flight see the old or the new scenario, never a
// mix, and none is dropped). A bad file keeps the current scenario; the
// error says why and is logged with trigger "request". The command calls
// ReloadFor("SIGHUP") on SIGHUP.
func (s *Server) Reload() error { return s.ReloadFor("request") }

// ReloadFor is Reload with the trigger to log ("SIGHUP", "request", ...).
func (s *Server) ReloadFor(trigger string) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloadLocked(trigger)
}

func (s *Server) reloadLocked(trigger string) error {
	path := s.cfg.ScenarioFile
	if path == "" {
		return errors.New("no scenario file to reload")
	}
	sc, err := scenario.LoadFile(path)
	if err != nil {
		s.metrics.reloads.WithLabelValues("error").Inc()
		s.log.Warn("scenario reload failed; keeping the previous scenario", "file", path, "trigger", trigger, "error", err)
		return err
	}
	s.store.Load(sc)
	if s.cfg.ReleaseMemory {
		debug.FreeOSMemory()
	}
	s.metrics.reloads.WithLabelValues("ok").Inc()
	s.log.Info("scenario reloaded", "file", path, "trigger", trigger)
	return nil
}

// fileStamp identifies a version of a file: a change of inode (editors
// rename a new file over the old one), size or modification time is a change.
type fileStamp struct {
	info os.FileInfo
}

func (a fileStamp) same(b fileStamp) bool {
	switch {
	case a.info == nil || b.info == nil:
		return a.info == nil && b.info == nil
	case !os.SameFile(a.info, b.info):
		return false
	}
	return a.info.Size() == b.info.Size() && a.info.ModTime().Equal(b.info.ModTime())
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{info: fi}
}

// watch polls the scenario file every ReloadInterval (wall-clock time: file
// changes are real events) and reloads it when it changed. A missing file is
// waited for; the scenario in force stays.
func (s *Server) watch(ctx context.Context) {
	path := s.cfg.ScenarioFile
	last := stampOf(path)
	t := time.NewTicker(s.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cur := stampOf(path)
		if cur.same(last) {
			continue
		}
		last = cur
		if cur.info == nil {
			s.log.Warn("scenario file is gone; keeping the current scenario until it is back", "file", path)
			continue
		}
		s.reloadMu.Lock()
		_ = s.reloadLocked("file change")
		s.reloadMu.Unlock()
	}
}
