package lithair

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/lithair/lithair/event"
	"github.com/lithair/lithair/index"
	"github.com/lithair/lithair/rules"
)

// ReloadReport is what a rules reload found and did.
type ReloadReport struct {
	At      time.Time `json:"at"`
	Trigger string    `json:"trigger"` // "http", "signal", "watch"
	OK      bool      `json:"ok"`
	// Version is the rules version active after the reload.
	Version string `json:"version"`
	// Changed is false when the files matched the active rules already.
	Changed bool `json:"changed"`
	// Errors are the new set's problems as file:line: message; the
	// previous rules stay active.
	Errors []string `json:"errors,omitempty"`
	// Misfits counts, per model, the existing records that the new schema
	// would refuse as they are. They stay as they are; the next write to
	// each must fit the new rules.
	Misfits map[string]int `json:"misfits,omitempty"`
}

// reloadState serialises reloads and remembers the last one.
type reloadState struct {
	mu   sync.Mutex
	last *ReloadReport
}

// ErrRulesRefused means a reload found errors in the rule files.
var ErrRulesRefused = errors.New("lithair: rules refused")

// misfitScanLimit bounds how many records per model a reload checks
// against the new schema, so a reload stays quick on a big data set.
const misfitScanLimit = 100000

// ReloadRules checks the rules directory and, if the set is good and
// differs from the active one, commits it through Raft so every node
// switches at the same log index. A bad set changes nothing.
func (a *Appliance) ReloadRules(ctx context.Context, trigger string) (_ *ReloadReport, err error) {
	a.reload.mu.Lock()
	defer a.reload.mu.Unlock()
	rep := &ReloadReport{At: time.Now().UTC(), Trigger: trigger}
	defer func() {
		a.reload.last = rep
		a.metrics.RulesReloaded(err)
	}()
	active := a.Rules()
	if active != nil {
		rep.Version = active.Version
	}
	set, err := rules.LoadDir(a.cfg.Rules.Dir, ruleOptions(a.cfg))
	if err != nil {
		var errs rules.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				rep.Errors = append(rep.Errors, e.Error())
			}
		} else {
			rep.Errors = []string{err.Error()}
		}
		a.logger.Warn("rules reload refused; the previous rules stay active", "trigger", trigger, "errors", rep.Errors)
		return rep, fmt.Errorf("%w: %v", ErrRulesRefused, err)
	}
	rep.OK = true
	if active != nil && active.Version == set.Version {
		return rep, nil
	}
	rep.Misfits = a.misfits(ctx, set)
	if err := a.deployRules(ctx, set); err != nil {
		rep.OK = false
		rep.Errors = []string{err.Error()}
		return rep, err
	}
	rep.Changed, rep.Version = true, set.Version
	a.logger.Info("rules reloaded", "trigger", trigger, "version", set.Version, "misfits", rep.Misfits)
	return rep, nil
}

// LastReload returns the report of the last reload, nil if none ran.
func (a *Appliance) LastReload() *ReloadReport {
	a.reload.mu.Lock()
	defer a.reload.mu.Unlock()
	return a.reload.last
}

// misfits counts, per model, the records the new set would refuse.
func (a *Appliance) misfits(ctx context.Context, set *rules.Set) map[string]int {
	out := map[string]int{}
	rctx := rules.Context{Ctx: ctx, Exists: func(model, id string) bool {
		_, ok := a.state.Get(model, id)
		return ok
	}}
	for _, m := range set.Models {
		page, _ := a.state.List(index.Query{Model: m.Name, Limit: misfitScanLimit, MaxScan: misfitScanLimit})
		for _, rec := range page.Records {
			fields := rec.Fields()
			if _, ferrs, err := m.Prepare(fields, fields, rctx); err != nil || len(ferrs) > 0 {
				out[m.Name]++
			}
		}
	}
	return out
}

// deployRules commits a rule set through Raft.
func (a *Appliance) deployRules(ctx context.Context, set *rules.Set) error {
	c := &event.Command{Op: event.OpRules, Time: time.Now().UnixNano()}
	for _, f := range set.Files {
		c.Rules = append(c.Rules, event.RuleFile{Name: f.Name, Source: f.Source})
	}
	_, err := a.propose(ctx, c)
	return err
}

// watchRules polls the rules directory and reloads when a file changes.
// Polling once a second needs no platform support and costs nothing
// measurable for a directory of a few files.
func (a *Appliance) watchRules() {
	defer a.wg.Done()
	last := dirStamp(a.cfg.Rules.Dir)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
		now := dirStamp(a.cfg.Rules.Dir)
		if now == last || !a.Ready() {
			continue
		}
		last = now
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		a.ReloadRules(ctx, "watch")
		cancel()
	}
}

// dirStamp summarises the names, sizes and times of the *.lua files.
func dirStamp(dir string) string {
	files, _ := filepath.Glob(filepath.Join(dir, "*.lua"))
	stamp := ""
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			stamp += fmt.Sprintf("%s:%d:%d;", f, st.Size(), st.ModTime().UnixNano())
		}
	}
	return stamp
}
