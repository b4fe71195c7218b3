package loadgen

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Machine describes the host a run was measured on.
type Machine struct {
	CPUModel     string  `json:"cpu_model"`
	NumCPU       int     `json:"num_cpu"`
	GOMAXPROCS   int     `json:"gomaxprocs"`
	Kernel       string  `json:"kernel"`
	GoVersion    string  `json:"go_version"`
	GOOS         string  `json:"goos"`
	GOARCH       string  `json:"goarch"`
	NullSyscallN float64 `json:"null_syscall_ns"` // cost of syscall.Getppid
	Hostname     string  `json:"hostname"`
	Time         string  `json:"time"`
}

// DetectMachine reads the CPU model and kernel from /proc and times a null
// system call (getppid) in a loop.
func DetectMachine() Machine {
	m := Machine{NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, Time: time.Now().UTC().Format(time.RFC3339)}
	m.Hostname, _ = os.Hostname()
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.NullSyscallN = nullSyscallNs()
	return m
}

// nullSyscallNs returns the best of five timings of 100 000 getppid calls.
func nullSyscallNs() float64 {
	const n = 100_000
	best := 0.0
	for range 5 {
		t := time.Now()
		for range n {
			syscall.Getppid()
		}
		ns := float64(time.Since(t)) / n
		if best == 0 || ns < best {
			best = ns
		}
	}
	return best
}
