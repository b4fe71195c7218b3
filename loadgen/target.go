package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Target is a server the bench starts, measures and stops.
type Target struct {
	// Name is the short name used in flags and file names:
	// "swiftlet", "socketio" or "deepstream".
	Name  string
	Proto Proto
	// Command builds the command line that serves on 127.0.0.1:port.
	Command func(port int) (*exec.Cmd, error)
}

// Targets returns the known targets. scripts is the repository's scripts
// directory and swiftletBin the path of the swiftlet binary.
func Targets(scripts, swiftletBin string) map[string]Target {
	return map[string]Target{
		"swiftlet": {Name: "swiftlet", Proto: ProtoDeepstream, Command: func(port int) (*exec.Cmd, error) {
			bin, err := filepath.Abs(swiftletBin)
			if err == nil {
				var fi os.FileInfo
				if fi, err = os.Stat(bin); err == nil && !fi.Mode().IsRegular() {
					err = fmt.Errorf("%s is not a file", bin)
				}
			}
			if swiftletBin == "" {
				err = errors.New("no path given")
			}
			if err != nil {
				return nil, fmt.Errorf("%w: swiftlet binary: %v", ErrNotInstalled, err)
			}
			// No Dir: startServer runs it in the log directory, so
			// whatever it stores (./data) stays out of the source tree.
			return exec.Command(bin, "start", "--host", "127.0.0.1", "--port", strconv.Itoa(port)), nil
		}},
		"socketio": {Name: "socketio", Proto: ProtoSocketIO, Command: func(port int) (*exec.Cmd, error) {
			dir := filepath.Join(scripts, "socketio")
			if err := needNodeModules(dir, "socket.io"); err != nil {
				return nil, err
			}
			cmd := exec.Command("node", "server.js", "127.0.0.1", strconv.Itoa(port))
			cmd.Dir = dir
			return cmd, nil
		}},
		"deepstream": {Name: "deepstream", Proto: ProtoDeepstream, Command: func(port int) (*exec.Cmd, error) {
			dir := filepath.Join(scripts, "deepstream")
			if err := needNodeModules(dir, "@deepstream/server"); err != nil {
				return nil, err
			}
			cmd := exec.Command("node", "node_modules/@deepstream/server/dist/bin/deepstream.js", "start",
				"-c", "config.yml", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
			cmd.Dir = dir
			return cmd, nil
		}},
	}
}

// ErrNotInstalled reports a target whose runtime or packages are missing.
var ErrNotInstalled = errors.New("loadgen: target not installed")

func needNodeModules(dir, pkg string) error {
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("%w: node not on PATH", ErrNotInstalled)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg)); err != nil {
		return fmt.Errorf("%w: %s missing (run npm ci in %s)", ErrNotInstalled, pkg, dir)
	}
	return nil
}

// server is a running target process.
type server struct {
	cmd  *exec.Cmd
	addr string
	log  *os.File
	done chan error
}

// startServer starts t on 127.0.0.1:port, its output going to logPath, and
// waits until the port accepts connections. A command without its own
// directory runs in logPath's directory.
func startServer(ctx context.Context, t Target, port int, logPath string) (*server, error) {
	cmd, err := t.Command(port)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.Dir == "" {
		cmd.Dir = filepath.Dir(logPath)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	s := &server{cmd: cmd, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), log: f, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case err := <-s.done:
			s.done <- err
			f.Close()
			return nil, fmt.Errorf("%s exited before listening (%v); see %s", t.Name, err, logPath)
		case <-deadline.C:
			s.stop()
			return nil, fmt.Errorf("%s did not listen on %s within 30 s; see %s", t.Name, s.addr, logPath)
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-poll.C:
		}
	}
}

// stop sends SIGTERM to the server's process group, then SIGKILL after 5 s.
func (s *server) stop() {
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-s.done
	}
	s.log.Close()
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
