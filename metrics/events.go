package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The reasons AuthFailed expects. Others are counted as given.
const (
	AuthBadPassword = "bad_password"
	AuthBadToken    = "bad_token"
	AuthExpired     = "expired"
)

// The kinds of Lua call ObserveLua expects. Others are counted as given.
const (
	LuaValidate   = "validate"
	LuaPermission = "permission"
	LuaDefault    = "default"
	LuaProjection = "projection"
)

// luaSeries caches the series of one kind of Lua call.
type luaSeries struct {
	duration prometheus.Observer
	timeouts prometheus.Counter
}

func (m *Metrics) initEvents(f factory) {
	m.firewall = m.counterCache(f.counterVec("firewall_denied_total",
		"Requests the firewall refused, by reason (deny_list, not_allowed, rate_global, rate_ip, rate_login, body_too_large).",
		"reason"), "firewall_denied_total")
	m.invalid = m.counterCache(f.counterVec("validation_failures_total",
		"Writes refused by the model's schema or validate rules, by model.",
		"model"), "validation_failures_total")
	m.forbidden = m.counterCache(f.counterVec("permission_denials_total",
		"Requests refused by the permission rules, by model.",
		"model"), "permission_denials_total")
	m.auth = m.counterCache(f.counterVec("auth_failures_total",
		"Failed authentications, by reason (bad_password, bad_token, expired).",
		"reason"), "auth_failures_total")

	luaDur := f.histogramVec("lua_call_duration_seconds",
		"Time of each call into a Lua rule, by kind (validate, permission, default, projection); timed-out calls included.",
		luaBuckets, "kind")
	luaTimeouts := f.counterVec("lua_timeouts_total",
		"Lua rule calls stopped by the call budget, by kind.",
		"kind")
	m.lua = newLabelCache(maxLabelValues, overflowValue, m.overflow.WithLabelValues(namespace+"_lua_call_duration_seconds"),
		func(kind string) luaSeries {
			kind = labelValue(kind)
			return luaSeries{duration: luaDur.WithLabelValues(kind), timeouts: luaTimeouts.WithLabelValues(kind)}
		})

	reloads := f.counterVec("rules_reloads_total",
		"Rule reloads, by result (success, failure).",
		"result")
	m.reloads = [2]prometheus.Counter{reloads.WithLabelValues("success"), reloads.WithLabelValues("failure")}

	// Series with a known label set start at 0, so rate() and alerts see
	// them before the first event rather than an absent series.
	for _, r := range []string{AuthBadPassword, AuthBadToken, AuthExpired} {
		m.auth.get(r)
	}
	for _, k := range []string{LuaValidate, LuaPermission, LuaDefault, LuaProjection} {
		m.lua.get(k)
	}
}

// FirewallDenied counts a request the firewall refused, by reason (the
// firewall's Reason* constants).
func (m *Metrics) FirewallDenied(reason string) { m.firewall.get(reason).Inc() }

// ValidationFailed counts a write refused by model's schema or validate
// rules.
func (m *Metrics) ValidationFailed(model string) { m.invalid.get(model).Inc() }

// PermissionDenied counts a request refused by model's permission rules.
func (m *Metrics) PermissionDenied(model string) { m.forbidden.get(model).Inc() }

// AuthFailed counts a failed authentication, by reason: AuthBadPassword,
// AuthBadToken or AuthExpired.
func (m *Metrics) AuthFailed(reason string) { m.auth.get(reason).Inc() }

// ObserveLua records one call into a Lua rule of kind (LuaValidate,
// LuaPermission, LuaDefault, LuaProjection) that took d, and counts it as
// a timeout if the call budget stopped it.
func (m *Metrics) ObserveLua(kind string, d time.Duration, timedOut bool) {
	s := m.lua.get(kind)
	s.duration.Observe(d.Seconds())
	if timedOut {
		s.timeouts.Inc()
	}
}

// RulesReloaded counts a rule reload that ended with err (nil for
// success).
func (m *Metrics) RulesReloaded(err error) {
	if err != nil {
		m.reloads[1].Inc()
		return
	}
	m.reloads[0].Inc()
}
