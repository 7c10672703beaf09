package harness

import "runtime"

// unsupportedArch is the value of ETCD_UNSUPPORTED_ARCH etcd 3.4 wants
// before it runs on an architecture other than amd64 ("" on amd64).
func unsupportedArch() string {
	if runtime.GOARCH == "amd64" {
		return ""
	}
	return runtime.GOARCH
}
