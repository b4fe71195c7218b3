// Command swiftlet is the realtime server and its tools:
//
//	swiftlet start [--host H] [--port P] [--config FILE]   run the server
//	swiftlet bench [flags]                                  replay the latency matrix (see loadgen)
//	swiftlet compare A B                                    compare two result folders
//	swiftlet hash PASSWORD                                  print a users.yml password hash
//	swiftlet version                                        print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"swiftlet/loop"
	"swiftlet/server"
)

// version is set at build time with -ldflags "-X main.version=..."
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: swiftlet <command> [flags]

commands:
  start     run the server (swiftlet start --help for flags)
  bench     replay the published latency matrix against swiftlet, socket.io and deepstream
  compare   compare two benchmark result folders: swiftlet compare A B
  hash      print a password hash for users.yml: swiftlet hash PASSWORD
  version   print the version
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "start":
		return start(args[1:], stdout, stderr)
	case "bench":
		return bench(args[1:], stdout, stderr)
	case "compare":
		return compare(args[1:], stdout, stderr)
	case "hash":
		return hash(args[1:], stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "swiftlet", version)
		return 0
	case "help", "--help", "-h":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "swiftlet: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
}

func start(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("start", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", "", "address to listen on (default 0.0.0.0, or the config's host)")
	port := fs.Int("port", 0, "port to listen on (default 6020, or the config's port)")
	configPath := fs.String("config", "", "YAML config file (see conf/example.yml)")
	echo := fs.Bool("echo", false, "test mode: echo every WebSocket message instead of speaking deepstream")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile to this file until shutdown (for performance work)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "swiftlet start: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg := server.Defaults()
	if *configPath != "" {
		var err error
		if cfg, err = server.LoadConfig(*configPath); err != nil {
			fmt.Fprintf(stderr, "swiftlet: config: %v\n", err)
			return 2
		}
	}
	if *host != "" {
		cfg.Host = *host
	}
	if *port != 0 {
		cfg.Port = *port
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "swiftlet: config: %v\n", err)
		return 2
	}
	logger := newLogger(stderr, cfg.LogLevel)
	slog.SetDefault(logger)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "swiftlet: cpuprofile: %v\n", err)
			return 2
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "swiftlet: cpuprofile: %v\n", err)
			return 2
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}

	var h loop.Handler = loop.EchoHandler{}
	var srv *server.Server
	if !*echo {
		var err error
		if srv, err = server.New(cfg, logger); err != nil {
			logger.Error("cannot start", "err", err)
			return 1
		}
		h = srv
	}
	eng := loop.New(server.LoopConfig(cfg, logger), h)
	if srv != nil {
		srv.Attach(eng)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	errc := make(chan error, 1)
	go func() { errc <- eng.Run() }()

	for {
		select {
		case err := <-errc:
			if err != nil {
				logger.Error("server stopped", "err", err)
				return 1
			}
			return 0
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				if srv != nil {
					srv.Reload()
				}
				continue
			}
			logger.Info("shutting down", "signal", sig.String())
			ctx, cancel := context.WithTimeout(context.Background(), cfg.CloseTimeout.D()+5*time.Second)
			err := eng.Shutdown(ctx)
			cancel()
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				logger.Warn("shutdown", "err", err)
			}
			if err := <-errc; err != nil {
				logger.Error("server stopped", "err", err)
				return 1
			}
			if srv != nil {
				if err := srv.Close(); err != nil {
					logger.Error("closing storage", "err", err)
					return 1
				}
			}
			logger.Info("stopped")
			return 0
		}
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToUpper(level) {
	case "DEBUG":
		lv = slog.LevelDebug
	case "WARN":
		lv = slog.LevelWarn
	case "ERROR":
		lv = slog.LevelError
	case "OFF":
		lv = slog.LevelError + 100
	default:
		lv = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv}))
}
