package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestUnitFileVerifiesWithExposureAtMost2 runs what CI runs on the unit:
// systemd-analyze verify, and security --offline with exposure <= 2.0.
func TestUnitFileVerifiesWithExposureAtMost2(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		t.Skip("systemd-analyze not installed")
	}
	unit, err := os.ReadFile("../../systemd/lithair.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "ExecReload=/bin/kill -HUP $MAINPID", "TimeoutStopSec=",
		"User=lithair", "StateDirectory=lithair", "ConfigurationDirectory=lithair", "RestartPreventExitStatus=78"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("the unit lacks %s", want)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "lithair.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/lithair", lithairBinary(t))), 0o644)
	if out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput(); err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command("systemd-analyze", "security", "--offline=true", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for lithair.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure in:\n%s", out)
	}
	if e, _ := strconv.ParseFloat(string(m[1]), 64); e > 2.0 {
		t.Fatalf("exposure %.1f above 2.0:\n%s", e, out)
	}
	t.Logf("exposure %s", m[1])
}

// TestInstallIntoDestdir: install.sh puts the binary, the configuration
// set up for the service, the rules, the unit and the user in place, and
// a second install keeps what the operator edited.
func TestInstallIntoDestdir(t *testing.T) {
	root := t.TempDir()
	install := func() string {
		cmd := exec.Command("../../systemd/install.sh", "--bin", lithairBinary(t))
		cmd.Env = append(os.Environ(), "DESTDIR="+root)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("install.sh: %v\n%s", err, out)
		}
		return string(out)
	}
	install()
	for _, f := range []string{"usr/local/bin/lithair", "etc/lithair/lithair.toml", "etc/lithair/rules/product.lua",
		"etc/systemd/system/lithair.service", "usr/local/lib/sysusers.d/lithair.conf",
		"usr/local/share/lithair/examples/rules/product.lua", "usr/local/share/doc/lithair/README.md"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("not installed: %s", f)
		}
	}
	conf := filepath.Join(root, "etc/lithair/lithair.toml")
	code, out, errOut := runCLI(t, nil, "config", "check", conf)
	if code != 0 || !strings.Contains(out, `dir = "/var/lib/lithair"`) || !strings.Contains(out, `dir = "/etc/lithair/rules"`) {
		t.Fatalf("installed configuration: %d %s %s", code, out, errOut)
	}
	f, _ := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("# edited by the operator\n")
	f.Close()
	if out := install(); !strings.Contains(out, "kept") {
		t.Errorf("second install does not say it kept the configuration:\n%s", out)
	}
	if b, _ := os.ReadFile(conf); !strings.Contains(string(b), "# edited by the operator") {
		t.Fatal("a second install overwrote the operator's configuration")
	}
	if _, err := os.Stat(conf + ".new"); err != nil {
		t.Fatal("no lithair.toml.new beside the kept configuration")
	}
}
