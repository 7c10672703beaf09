package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version may be set with -ldflags "-X github.com/extmetrics/extmetrics/pkg/version.Version=v1.2.3".
var Version = ""

// Info describes this build.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the build information.
func Get() Info {
	info := Info{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Revision = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	return info
}

// String is a one-line description such as "extmetrics devel (abc1234) go1.26.0 linux/amd64".
func (i Info) String() string {
	rev := ""
	if i.Revision != "" {
		r := i.Revision
		if len(r) > 12 {
			r = r[:12]
		}
		if i.Modified {
			r += "-dirty"
		}
		rev = " (" + r + ")"
	}
	return fmt.Sprintf("extmetrics %s%s %s %s", i.Version, rev, i.GoVersion, i.Platform)
}
