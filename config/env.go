package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// applyEnv overlays environment variables on c: the environment wins over
// the file so one image serves many deployments.
func applyEnv(c *Config, getenv func(string) string) []error {
	var errs []error
	bad := func(key, msg string) {
		errs = append(errs, &Error{Source: "environment", Key: key, Msg: msg})
	}
	str := func(key string, dst *string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	list := func(key string, dst *[]string) {
		if v := getenv(key); v != "" {
			*dst = splitList(v)
		}
	}
	integer := func(key string, dst *int) {
		if v := getenv(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				bad(key, fmt.Sprintf("%q is not a number", v))
				return
			}
			*dst = n
		}
	}
	str("PORTCHECK_LISTEN", &c.Listen)
	str("PORTCHECK_VANTAGE", &c.Vantage)
	str("PORTCHECK_CONTROL_TARGET", &c.ControlTarget)
	str("PORTCHECK_LOG_FORMAT", &c.Log.Format)
	str("PORTCHECK_LOG_LEVEL", &c.Log.Level)
	str("PORTCHECK_AUDIT_DB", &c.Audit.Path)
	str("PORTCHECK_AUDIT_CHECKPOINT_CHANNEL", &c.Audit.CheckpointChannel)
	if v := getenv("PORTCHECK_AUDIT_CHECKPOINT_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			bad("PORTCHECK_AUDIT_CHECKPOINT_EVERY", fmt.Sprintf("%q is not a duration (examples: 1h, 15m)", v))
		} else {
			c.Audit.CheckpointEvery = Duration(d)
		}
	}
	str("REDIS_URL", &c.Redis.URL)
	str("REDIS_SENTINEL_MASTER", &c.Redis.SentinelMaster)
	list("REDIS_SENTINEL_ADDRS", &c.Redis.SentinelAddrs)
	integer("PORTCHECK_CONCURRENCY", &c.Worker.Concurrency)
	if v := getenv("PORTCHECK_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			bad("PORTCHECK_TIMEOUT", fmt.Sprintf("%q is not a duration (examples: 5s, 10s)", v))
		} else {
			c.Worker.Timeout = Duration(d)
		}
	}
	if v := getenv("PORTCHECK_DRAIN_GRACE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			bad("PORTCHECK_DRAIN_GRACE", fmt.Sprintf("%q is not a duration (examples: 25s, 1m)", v))
		} else {
			c.Worker.DrainGrace = Duration(d)
		}
	}
	if v := getenv("PORTCHECK_LOCAL_WORKER"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			bad("PORTCHECK_LOCAL_WORKER", fmt.Sprintf("%q is not true or false", v))
		} else {
			c.Worker.LocalWorker = &b
		}
	}
	// Allow/deny from the environment add to the file's lists: a deployment
	// can open its own networks without copying the whole policy.
	if v := getenv("PORTCHECK_ALLOW"); v != "" {
		c.Policy.Allow = append(c.Policy.Allow, splitList(v)...)
	}
	if v := getenv("PORTCHECK_DENY"); v != "" {
		c.Policy.Deny = append(c.Policy.Deny, splitList(v)...)
	}
	integer("PORTCHECK_MAX_PORTS", &c.Policy.MaxPorts)
	return errs
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
