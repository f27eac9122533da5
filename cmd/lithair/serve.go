package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	lithair "github.com/lithair/lithair"
	"github.com/lithair/lithair/web"
)

const serveHelp = `Usage: lithair serve [flags]

Runs the appliance: opens the data dir (creating a single-node cluster on
the first start), replays the log, loads the rules and serves the HTTP API.

Each option is taken from, in order of precedence: a flag (--listen,
--data, --rules, --node-id, or --set KEY=VALUE for any option), a LITHAIR_*
environment variable (LITHAIR_HTTP_LISTEN, LITHAIR_EVENT_STORE_DIR, ...:
the option's key in capitals with "." as "_"), the configuration file
(--config or $LITHAIR_CONFIG), the built-in default. configs/lithair.toml
documents every option; "lithair config check" shows the result.

Signals: SIGHUP reloads the rules and the log level (systemd's ExecReload);
SIGTERM or SIGINT stops accepting connections, lets requests in flight
finish (http.shutdown_timeout), then closes the log. Under systemd
(Type=notify) it reports READY=1 once it serves, and pings the watchdog
while the log and the apply loop make progress.
`

func serve(args []string, std stdio) int {
	c := newCommand("serve", serveHelp)
	var cf configFlags
	cf.register(c.fs, true)
	if code, done := c.parse(args, std, 0, 0); done {
		return code
	}
	cfg, origins, ignored, err := cf.resolve()
	if err != nil {
		return configFailed(std, err)
	}
	// A missing rules dir is a setting to fix, not a failure to retry.
	if st, err := os.Stat(cfg.Rules.Dir); err != nil || !st.IsDir() {
		where := strings.TrimPrefix(origins["rules.dir"], "env ")
		if where == "default" {
			where = ""
		}
		return configFailed(std, &lithair.ConfigError{Where: where, Key: "rules.dir",
			Reason: fmt.Sprintf("%s is not a directory of rule files", cfg.Rules.Dir)})
	}
	level := new(slog.LevelVar)
	level.Set(logLevel(cfg.Log.Level))
	logger := newLogger(std.out, cfg.Log.Format, level)
	for _, name := range ignored {
		logger.Warn("ignoring an environment variable that names no option", "name", name)
	}
	if err := serveUntilSignal(cfg, &cf, level, logger, std.out); err != nil {
		fmt.Fprintln(std.errOut, "lithair:", err)
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

func newLogger(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// startExtendEvery is how often the start-up timeout is extended while
// the node opens its data dir and replays its log.
var startExtendEvery = 2 * time.Second

func serveUntilSignal(cfg lithair.Config, cf *configFlags, level *slog.LevelVar, logger *slog.Logger, stdout io.Writer) error {
	notify := newNotifier()
	defer notify.close()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.HTTP.Listen, err)
	}
	// The real address (port 0 picks one) is what other nodes of a
	// cluster are told to reach this node at.
	cfg.HTTP.Listen = ln.Addr().String()
	var opened atomic.Pointer[lithair.Appliance]
	started := make(chan struct{})
	go extendStartTimeout(notify, &opened, started)
	app, err := lithair.Open(cfg, logger)
	if err != nil {
		close(started)
		ln.Close()
		return err
	}
	opened.Store(app)
	webServer := web.New(app, logger)
	srv := webServer.HTTPServer(cfg.HTTP.Listen)
	stopSocket := serveAdminSocket(cfg.EventStore.Dir, webServer.LocalHandler(), logger)
	defer stopSocket()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := fmt.Sprintf("http://%s/", ln.Addr())
	fmt.Fprintf(stdout, "Lithair is serving %s (data %s, rules %s)\n", url, cfg.EventStore.Dir, cfg.Rules.Dir)

	readyCh := make(chan error, 1)
	waitCtx, stopWaiting := context.WithCancel(context.Background())
	defer stopWaiting()
	go func() { readyCh <- app.WaitReady(waitCtx) }()
	watchCtx, stopWatchdog := context.WithCancel(context.Background())
	defer stopWatchdog()
	ready := false
	var stopSig os.Signal
	for stopSig == nil {
		select {
		case err := <-readyCh:
			if err != nil {
				continue
			}
			ready = true
			close(started)
			announceFirstAdmin(stdout, app)
			// Only now: the log is replayed, Raft runs and the listener
			// has been bound since before Open.
			notify.send("READY=1", "STATUS="+servingStatus(app, url))
			if iv := watchdogInterval(); iv > 0 {
				go runWatchdog(watchCtx, app, notify, iv, logger)
			}
		case sig := <-sigs:
			if sig != syscall.SIGHUP {
				stopSig = sig
				continue
			}
			if !ready {
				logger.Warn("SIGHUP during start-up ignored: the rules are loaded once the log is replayed")
				continue
			}
			notify.send("RELOADING=1", "STATUS=reloading the rules")
			go func() {
				reloadOnSignal(app, cf, level, logger)
				notify.send("READY=1", "STATUS="+servingStatus(app, url))
			}()
		case err := <-served:
			if !ready {
				close(started)
			}
			app.Close()
			return fmt.Errorf("http server: %w", err)
		}
	}
	if !ready {
		close(started)
	}
	return shutdown(cfg, app, srv.Shutdown, srv.Close, stopSig, notify, stopWatchdog, logger)
}

func servingStatus(app *lithair.Appliance, url string) string {
	p := app.Progress()
	return fmt.Sprintf("serving %s, applied index %d", url, p.Applied)
}

// shutdown drains HTTP (requests in flight finish; new connections are
// refused), hands leadership over in a cluster, then closes Raft and the
// log (which syncs it). Everything acknowledged was fsync'd already.
func shutdown(cfg lithair.Config, app *lithair.Appliance, drain func(context.Context) error, closeHTTP func() error,
	sig os.Signal, notify *notifier, stopWatchdog func(), logger *slog.Logger) error {
	start := time.Now()
	logger.Info("stopping", "signal", sig.String(), "drain_timeout", cfg.HTTP.ShutdownTimeout.String())
	notify.send("STOPPING=1", "STATUS=draining HTTP requests")
	stopWatchdog()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout.Duration)
	defer cancel()
	if err := drain(ctx); err != nil {
		logger.Warn("requests still running after http.shutdown_timeout; closing their connections", "err", err)
		closeHTTP()
	}
	if err := app.TransferLeadership(5 * time.Second); err != nil {
		logger.Warn("leadership transfer", "err", err)
	}
	notify.send("STATUS=closing the log")
	if err := app.Close(); err != nil {
		return fmt.Errorf("closing: %w", err)
	}
	logger.Info("stopped", "applied_index", app.Progress().Applied, "took", time.Since(start).Round(time.Millisecond).String())
	return nil
}

// extendStartTimeout keeps systemd's start-up timeout from killing a node
// that is still opening its data dir or replaying a long log, as long as
// the replay makes progress: each extension buys startExtendEvery*5.
func extendStartTimeout(notify *notifier, opened *atomic.Pointer[lithair.Appliance], started <-chan struct{}) {
	if !notify.enabled() {
		return
	}
	extend := "EXTEND_TIMEOUT_USEC=" + usec(5*startExtendEvery)
	notify.send(extend, "STATUS=opening the data dir")
	var last uint64
	// Open restores the newest snapshot before it returns: that phase
	// shows no progress from outside, so it is trusted for a while.
	openDeadline := time.Now().Add(10 * time.Minute)
	tick := time.NewTicker(startExtendEvery)
	defer tick.Stop()
	for {
		select {
		case <-started:
			return
		case <-tick.C:
		}
		app := opened.Load()
		if app == nil {
			if time.Now().Before(openDeadline) {
				notify.send(extend, "STATUS=opening the data dir (restoring the newest snapshot)")
			}
			continue
		}
		p := app.Progress()
		if p.Applied > last {
			notify.send(extend, fmt.Sprintf("STATUS=replaying the log: applied index %d of %d", p.Applied, p.Target))
		}
		last = p.Applied
	}
}

// runWatchdog pings systemd's watchdog every half period, but only while
// the node is healthy: the logs are not broken, the leader loop that
// writes the log answers, and the apply loop moves when it has work. A
// node stuck on a dead disk stops pinging and systemd restarts it.
func runWatchdog(ctx context.Context, app *lithair.Appliance, notify *notifier, period time.Duration, logger *slog.Logger) {
	probe := app.NewHealthProbe()
	tick := time.NewTicker(period / 2)
	defer tick.Stop()
	failing := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := probe.Check(period / 4)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			notify.send("WATCHDOG=1")
			if failing != "" {
				logger.Info("healthy again; watchdog pings resume")
				failing = ""
			}
			continue
		}
		if err.Error() != failing {
			logger.Error("not healthy: watchdog pings stop", "err", err)
			notify.send("STATUS=not healthy: " + err.Error())
		}
		failing = err.Error()
	}
}

// reloadOnSignal is SIGHUP: re-read the configuration and apply what is
// safe to change in a running node (log.level), then reload the rules.
func reloadOnSignal(app *lithair.Appliance, cf *configFlags, level *slog.LevelVar, logger *slog.Logger) {
	if cfg, _, _, err := cf.resolve(); err != nil {
		logger.Error("configuration reload refused; the running configuration stays", "err", err.Error())
	} else {
		level.Set(logLevel(cfg.Log.Level))
		running := app.Config()
		var restart []string
		for _, o := range lithair.Options() {
			if o.Key != "log.level" && cfg.Value(o.Key) != running.Value(o.Key) {
				restart = append(restart, o.Key)
			}
		}
		sort.Strings(restart)
		if len(restart) > 0 {
			logger.Warn("configuration changed: restart to apply these options", "options", restart)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := app.ReloadRules(ctx, "signal"); err != nil && !errors.Is(err, lithair.ErrRulesRefused) {
		logger.Error("rules reload", "err", err)
	}
}

// announceFirstAdmin prints, on the very first start of a data dir, how to
// sign in as the admin Lithair created. A generated password is shown here
// and nowhere else, ever.
func announceFirstAdmin(stdout io.Writer, app *lithair.Appliance) {
	name, password, ok := app.InitialAdmin()
	if !ok {
		return
	}
	if password == "" {
		fmt.Fprintf(stdout, "Lithair created the user %q with the password from auth.initial_admin_password.\n", name)
		return
	}
	fmt.Fprintf(stdout, "Lithair created the first user. Sign in as %s with password: %s\n", name, password)
	fmt.Fprintf(stdout, "This password is shown only once. Change it with: lithair user passwd %s\n", name)
}
