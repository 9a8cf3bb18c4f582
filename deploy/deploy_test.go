// Package deploy holds what runs gostate in production: Prometheus alert
// rules (prometheus/) and a systemd unit for the exporter (systemd/). Its
// tests check them with the tools that read them, when installed.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tool returns the path of a command, skipping the test when it is missing.
func tool(t *testing.T, name, why string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed: %s", name, why)
	}
	return p
}

// run runs a command in dir, failing the test with its output on failure.
func run(t *testing.T, dir string, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// TestAlertRules checks the rules and runs their unit tests with promtool
// (scripts/deps.sh installs it).
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool", "the alert rules are not checked")
	run(t, "prometheus", promtool, "check", "rules", "gostate-alerts.yml")
	run(t, "prometheus", promtool, "test", "rules", "gostate-alerts.test.yml")
}

// TestSystemdUnit verifies the exporter's unit with systemd-analyze, its
// ExecStart pointed at an executable that exists here (verify checks it).
func TestSystemdUnit(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "the unit is not verified")
	b, err := os.ReadFile("systemd/gostate-exporter.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"DynamicUser=yes", "AmbientCapabilities=CAP_NET_ADMIN\n", "CapabilityBoundingSet=CAP_NET_ADMIN\n", "NoNewPrivileges=yes", "ProtectSystem=strict", "ExecStart=/usr/bin/gostate --listen 127.0.0.1:"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "gostate-exporter.service")
	if err := os.WriteFile(path, []byte(strings.Replace(unit, "/usr/bin/gostate", self, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify only warns, with status 0, of what it ignores (a key
	// misspelt): any output is a failure.
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
