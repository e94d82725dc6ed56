package config

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden .err files")

func noEnv(string) string { return "" }

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// Every testdata/invalid-*.yaml must fail with exactly the message in its
// .err golden file: the messages are what an operator reads at 3 a.m.
func TestInvalidConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no invalid-*.yaml fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f, noEnv)
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(f, ".yaml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("%v (run go test ./config -update)", rerr)
			}
			if got != string(want) {
				t.Errorf("error mismatch\n got: %s\nwant: %s", got, want)
			}
		})
	}
}

func TestValidFullConfig(t *testing.T) {
	c, err := Load("testdata/valid-full.yaml", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9090" || c.Vantage != "office" || c.Worker.Timeout.Std() != 3*time.Second ||
		*c.Worker.LocalWorker || c.Policy.MaxPorts != 16 || len(c.Policy.Allow) != 3 || c.Redis.MaxDeliveries != 5 {
		t.Errorf("unexpected config: %+v", c)
	}
	// Keys the file does not set keep their defaults.
	if c.Limits.MaxTargets != Defaults().Limits.MaxTargets {
		t.Errorf("default lost: %+v", c.Limits)
	}
}

func TestEnvironmentWins(t *testing.T) {
	c, err := Load("testdata/valid-full.yaml", envOf(map[string]string{
		"PORTCHECK_LISTEN":       ":7000",
		"PORTCHECK_VANTAGE":      "internet",
		"PORTCHECK_ALLOW":        "172.16.0.0/12, .example.org",
		"PORTCHECK_TIMEOUT":      "7s",
		"PORTCHECK_LOCAL_WORKER": "true",
		"REDIS_URL":              "rediss://r:6380/1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":7000" || c.Vantage != "internet" || c.Worker.Timeout.Std() != 7*time.Second ||
		!*c.Worker.LocalWorker || c.Redis.URL != "rediss://r:6380/1" {
		t.Errorf("env not applied: %+v", c)
	}
	want := []string{"10.0.0.0/8", "192.168.1.5", ".corp.example.com", "172.16.0.0/12", ".example.org"}
	if strings.Join(c.Policy.Allow, " ") != strings.Join(want, " ") {
		t.Errorf("allow = %v, want %v", c.Policy.Allow, want)
	}
}

func TestNoFileUsesDefaults(t *testing.T) {
	c, err := Load("", noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.Worker.Concurrency < 1 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestBadEnvironment(t *testing.T) {
	_, err := Load("", envOf(map[string]string{"PORTCHECK_TIMEOUT": "soon", "PORTCHECK_MAX_PORTS": "x"}))
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{
		`environment: PORTCHECK_TIMEOUT: "soon" is not a duration`,
		`environment: PORTCHECK_MAX_PORTS: "x" is not a number`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml", noEnv)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Errorf("err = %v", err)
	}
}

func FuzzLoad(f *testing.F) {
	for _, p := range []string{"valid-full.yaml", "invalid-types.yaml", "invalid-values.yaml"} {
		b, _ := os.ReadFile(filepath.Join("testdata", p))
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _ = Load(p, noEnv) // must not panic
	})
}
