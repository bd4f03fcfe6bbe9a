package sim

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill a spawned node if the simulator
// dies (a crash, kill -9), so that no roamd outlives its run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
