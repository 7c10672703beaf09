//go:build linux

package harness

import "syscall"

// sysProcAttr makes the kernel kill etcd and kube-apiserver when the test
// process dies, so a killed test run leaves nothing listening.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
