// Package config loads portcheck's settings: one YAML file plus environment
// variables (the environment wins), decoded strictly so a typo is an error
// with its line number rather than a silently ignored key, and validated at
// start with messages that say what to change.
//
// Secrets (chat tokens, signing keys) are deliberately not here: they come
// only from the environment or *_FILE files, read by each chat adapter, so a
// config file can be committed and shared.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/portcheck/portcheck/admission/authz"
	"github.com/portcheck/portcheck/admission/policy"
)

// Duration is a time.Duration written as "5s", "1m30s" in YAML.
type Duration time.Duration

// UnmarshalYAML accepts Go duration strings.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		// A *yaml.TypeError lets the decoder carry on and report every bad
		// key in one run instead of stopping at the first.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration (examples: 5s, 1m30s, 2h)", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the Go duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Std returns the time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Config is every non-secret setting. Field comments name the environment
// variable that overrides each one.
type Config struct {
	Listen        string        `yaml:"listen"`         // PORTCHECK_LISTEN: HTTP endpoints (chat webhooks, /metrics, /healthz, /readyz)
	Vantage       string        `yaml:"vantage"`        // PORTCHECK_VANTAGE: this process's vantage name
	ControlTarget string        `yaml:"control_target"` // PORTCHECK_CONTROL_TARGET: a host known to be open, for the egress self-check
	Log           Log           `yaml:"log"`
	Audit         Audit         `yaml:"audit"`
	Redis         Redis         `yaml:"redis"`
	Worker        Worker        `yaml:"worker"`
	Policy        policy.Config `yaml:"policy"` // what the chat bot may probe (docs/security.md)
	Limits        Limits        `yaml:"limits"`
	Authz         authz.Config  `yaml:"authz"` // who may do what; empty lists allow everyone

	Watch Watch `yaml:"watch"`
}

// Log configures structured logging.
type Log struct {
	Format string `yaml:"format"` // PORTCHECK_LOG_FORMAT: text | json
	Level  string `yaml:"level"`  // PORTCHECK_LOG_LEVEL: debug | info | warn | error
}

// Audit configures the audit trail.
type Audit struct {
	Path string `yaml:"path"` // PORTCHECK_AUDIT_DB: SQLite file, created on first use
	// CheckpointChannel, when set, is where serve posts the trail's head
	// (seq and hash) every CheckpointEvery, outside the database, so that
	// cutting records off the end is caught too: `portcheck audit verify
	// --checkpoint SEQ:HASH`. Written "slack:C0AUDIT" or "discord:<channel id>".
	CheckpointChannel string   `yaml:"checkpoint_channel"` // PORTCHECK_AUDIT_CHECKPOINT_CHANNEL; empty = off
	CheckpointEvery   Duration `yaml:"checkpoint_every"`   // PORTCHECK_AUDIT_CHECKPOINT_EVERY: how often the head is posted to CheckpointChannel
}

// Redis switches the queue, results and rate limits to Redis.
type Redis struct {
	URL            string   `yaml:"url"`             // REDIS_URL: redis:// or rediss://; empty = embedded queue
	SentinelMaster string   `yaml:"sentinel_master"` // REDIS_SENTINEL_MASTER: the master's name, to find it through Sentinel
	SentinelAddrs  []string `yaml:"sentinel_addrs"`  // REDIS_SENTINEL_ADDRS (comma-separated): the sentinels, host:port
	MaxDeliveries  int      `yaml:"max_deliveries"`  // a job delivered this often goes to the dead-letter stream
	StreamMaxLen   int64    `yaml:"stream_max_len"`  // approximate MAXLEN trimming of job/result streams
}

// Worker tunes the probing side.
type Worker struct {
	Concurrency int      `yaml:"concurrency"`  // PORTCHECK_CONCURRENCY: jobs run at once
	Timeout     Duration `yaml:"timeout"`      // PORTCHECK_TIMEOUT: per-port deadline
	LocalWorker *bool    `yaml:"local_worker"` // PORTCHECK_LOCAL_WORKER: serve also runs a worker for its own vantage
	// DrainGrace is how long SIGTERM lets in-flight jobs finish before
	// they are cut short (and, with Redis, handed back to other workers).
	// Keep it under the orchestrator's kill timeout (k8s: 30 s).
	DrainGrace Duration `yaml:"drain_grace"` // PORTCHECK_DRAIN_GRACE
}

// Limits are the rate limits and input limits.
type Limits struct {
	PerUserPerMinute       int `yaml:"per_user_per_minute"`       // commands one user may run per minute
	PerChannelPerMinute    int `yaml:"per_channel_per_minute"`    // commands per channel per minute
	GlobalPerMinute        int `yaml:"global_per_minute"`         // commands per minute for the whole bot
	DistinctTargetsPerHour int `yaml:"distinct_targets_per_hour"` // different hosts one user may check per hour (scan guard)
	ConcurrentPerUser      int `yaml:"concurrent_per_user"`       // jobs one user may have running at once
	MaxCommandLength       int `yaml:"max_command_length"`        // characters of one command
	MaxTargets             int `yaml:"max_targets"`               // targets in one command
}

// Watch bounds /portcheck watch.
type Watch struct {
	MaxPerChannel int      `yaml:"max_per_channel"` // watches running at once in one channel
	DefaultEvery  Duration `yaml:"default_every"`   // interval when the command gives none
	MinEvery      Duration `yaml:"min_every"`       // shortest interval allowed
	MaxFor        Duration `yaml:"max_for"`         // longest a watch may run
}

// Defaults returns the settings used when neither the file nor the
// environment says otherwise. This is the one place defaults live.
func Defaults() Config {
	t := true
	return Config{
		Listen:  ":8080",
		Vantage: "local",
		Log:     Log{Format: "text", Level: "info"},
		Audit:   Audit{Path: "", CheckpointEvery: Duration(time.Hour)}, // empty path: the command picks its state directory
		Redis:   Redis{MaxDeliveries: 3, StreamMaxLen: 100000},
		Worker:  Worker{Concurrency: 32, Timeout: Duration(5 * time.Second), LocalWorker: &t, DrainGrace: Duration(25 * time.Second)},
		Policy:  policy.Config{MaxPorts: 64, RedactHops: &t},
		Limits: Limits{
			PerUserPerMinute: 20, PerChannelPerMinute: 60, GlobalPerMinute: 600,
			DistinctTargetsPerHour: 50, ConcurrentPerUser: 16,
			MaxCommandLength: 1000, MaxTargets: 10,
		},
		Watch: Watch{
			MaxPerChannel: 5,
			DefaultEvery:  Duration(30 * time.Second),
			MinEvery:      Duration(10 * time.Second),
			MaxFor:        Duration(24 * time.Hour),
		},
	}
}

// Error is a configuration problem; Line is 0 when it came from the
// environment or has no single place in the file.
type Error struct {
	Source string // file name or "environment"
	Line   int
	Key    string
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	return b.String()
}

// Load reads path (when not empty), applies the environment through getenv,
// and validates. All problems found are returned joined, so one run shows
// every fix to make.
func Load(path string, getenv func(string) string) (Config, error) {
	c := Defaults()
	var root *yaml.Node
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		root, err = decode(path, b, &c)
		if err != nil {
			return c, err
		}
	}
	errs := applyEnv(&c, getenv)
	vs := validate(c)
	for _, e := range vs {
		if e.Line == 0 && e.Source == "" {
			e.Source = path
			if path == "" {
				e.Source = "config"
			}
			e.Line = lineOf(root, strings.Split(e.Key, "."))
		}
	}
	// File order reads best: an operator fixes the file top to bottom.
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Line < vs[j].Line })
	for _, e := range vs {
		errs = append(errs, e)
	}
	return c, errors.Join(errs...)
}

// decode parses YAML strictly into c, which already holds the defaults.
func decode(name string, b []byte, c *Config) (*yaml.Node, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, typeErr(name, cleanYAMLErr(err))
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var errs []error
			for _, m := range te.Errors {
				errs = append(errs, typeErr(name, m))
			}
			return nil, errors.Join(errs...)
		}
		return nil, typeErr(name, cleanYAMLErr(err))
	}
	return &root, nil
}

// typeErr turns yaml.v3's "line 3: field foo not found in type config.Policy"
// into "portcheck.yaml:3: unknown key "foo"".
func typeErr(name, m string) error {
	line := 0
	if rest, ok := strings.CutPrefix(m, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			line, _ = strconv.Atoi(rest[:i])
			m = strings.TrimSpace(rest[i+1:])
		}
	}
	if f, ok := strings.CutPrefix(m, "field "); ok {
		if i := strings.Index(f, " not found"); i > 0 {
			return &Error{Source: name, Line: line, Msg: fmt.Sprintf("unknown key %q (check the spelling; docs/operations.md lists every key)", f[:i])}
		}
	}
	// "cannot unmarshal !!str `many` into int" -> "\"many\" must be a number"
	if rest, ok := strings.CutPrefix(m, "cannot unmarshal "); ok {
		kinds := map[string]string{"int": "a number", "int64": "a number", "bool": "true or false",
			"string": "a string", "[]string": "a list (example: [a, b])"}
		if i := strings.Index(rest, "`"); i >= 0 {
			if j := strings.Index(rest[i+1:], "`"); j >= 0 {
				val := rest[i+1 : i+1+j]
				into := strings.TrimSpace(strings.TrimPrefix(rest[i+2+j:], " into "))
				if want, ok := kinds[into]; ok {
					return &Error{Source: name, Line: line, Msg: fmt.Sprintf("%q must be %s", val, want)}
				}
			}
		}
	}
	if strings.HasPrefix(m, "cannot unmarshal") {
		m = strings.ReplaceAll(m, "!!str", "a string")
		m = strings.ReplaceAll(m, "!!int", "a number")
		m = strings.ReplaceAll(m, "!!seq", "a list")
		m = strings.ReplaceAll(m, "!!map", "a mapping")
		m = strings.ReplaceAll(m, "!!bool", "a boolean")
	}
	return &Error{Source: name, Line: line, Msg: m}
}

func cleanYAMLErr(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

// lineOf finds the line of a dotted key path in the parsed document, so
// validation errors point at the line to edit.
func lineOf(root *yaml.Node, path []string) int {
	if root == nil {
		return 0
	}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := 0
	for _, k := range path {
		if n.Kind != yaml.MappingNode {
			return line
		}
		found := false
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == k {
				line = n.Content[i].Line
				n = n.Content[i+1]
				found = true
				break
			}
		}
		if !found {
			return line
		}
	}
	return line
}
