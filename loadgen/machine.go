package loadgen

import (
	"bufio"
	"net"
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
	// LoopbackWriteN is the cost of one small write to a loopback TCP socket whose reader is
	// parked, as a server's broadcast writes are: every delivery frame pays it, so it bounds what
	// any target can do on this host (0 if it could not be measured).
	LoopbackWriteN float64 `json:"loopback_write_ns,omitempty"`
	Hostname       string  `json:"hostname"`
	Time           string  `json:"time"`
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
	m.LoopbackWriteN = loopbackWriteNs()
	return m
}

// loopbackWriteNs returns the best of five timings of one 100-byte write to
// each of 256 loopback TCP connections whose readers wait in Read, and 0 if
// the sockets cannot be set up.
func loopbackWriteNs() float64 {
	const n = 256
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer ln.Close()
	var writers, readers []net.Conn
	defer func() {
		for _, c := range append(writers, readers...) {
			c.Close()
		}
	}()
	for range n {
		r, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return 0
		}
		w, err := ln.Accept()
		if err != nil {
			r.Close()
			return 0
		}
		readers, writers = append(readers, r), append(writers, w)
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := r.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	msg := make([]byte, 100)
	best := 0.0
	for range 5 {
		time.Sleep(20 * time.Millisecond) // let every reader park
		t := time.Now()
		for _, w := range writers {
			if _, err := w.Write(msg); err != nil {
				return 0
			}
		}
		ns := float64(time.Since(t)) / n
		if best == 0 || ns < best {
			best = ns
		}
	}
	return best
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
