package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/web"
)

func serve(args []string, stdout, stderr io.Writer) int {
	cfg := lithair.DefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "TOML configuration `file` (default: none, built-in defaults)")
	listen := fs.String("listen", "", "HTTP listen `address` (default "+cfg.HTTP.Listen+")")
	data := fs.String("data", "", "data `dir` for the log and snapshots (default "+cfg.EventStore.Dir+")")
	rulesDir := fs.String("rules", "", "rules `dir` of *.lua files (default "+cfg.Rules.Dir+")")
	nodeID := fs.String("node-id", "", "Raft node `id` (default "+cfg.Raft.NodeID+")")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: lithair serve [flags]\n\nRuns the appliance. Flags override the config file, which overrides defaults.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lithair serve: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *configPath != "" {
		if err := cfg.LoadConfigFile(*configPath); err != nil {
			fmt.Fprintln(stderr, "lithair:", err)
			return exitFailure
		}
	}
	for flagVal, dst := range map[*string]*string{listen: &cfg.HTTP.Listen, data: &cfg.EventStore.Dir, rulesDir: &cfg.Rules.Dir, nodeID: &cfg.Raft.NodeID} {
		if *flagVal != "" {
			*dst = *flagVal
		}
	}
	logger := slog.New(slog.NewJSONHandler(stdout, &slog.HandlerOptions{Level: logLevel(cfg.Log.Level)}))
	if err := serveUntilSignal(cfg, logger, stdout); err != nil {
		fmt.Fprintln(stderr, "lithair:", err)
		return exitFailure
	}
	return exitOK
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return l
}

func serveUntilSignal(cfg lithair.Config, logger *slog.Logger, stdout io.Writer) error {
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.HTTP.Listen, err)
	}
	app, err := lithair.Open(cfg, logger)
	if err != nil {
		ln.Close()
		return err
	}
	srv := web.New(app, logger).HTTPServer(cfg.HTTP.Listen)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "Lithair is serving http://%s/ (data %s, rules %s)\n", ln.Addr(), cfg.EventStore.Dir, cfg.Rules.Dir)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
wait:
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				// systemd's ExecReload: re-read the rules; a bad set is
				// logged and the running rules stay.
				go func() {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					app.ReloadRules(ctx, "signal")
				}()
				continue
			}
			logger.Info("stopping", "signal", sig.String())
			break wait
		case err := <-served:
			app.Close()
			return fmt.Errorf("http server: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		logger.Warn("http drain", "err", err)
	}
	if err := app.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}
