package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portcheck/portcheck/admission/policy"
)

// validate returns every problem in c, each naming its key and what to do.
func validate(c Config) []*Error {
	var errs []*Error
	bad := func(key, format string, a ...any) {
		errs = append(errs, &Error{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		bad("listen", "%q is not host:port (example: \":8080\" or \"127.0.0.1:8080\")", c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("listen", "port %q must be a number from 0 to 65535", port)
	}
	if strings.TrimSpace(c.Vantage) == "" || strings.ContainsAny(c.Vantage, " ,:") {
		bad("vantage", "%q must be a non-empty name without spaces, commas or colons (example: office)", c.Vantage)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q must be text or json", c.Log.Format)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q must be debug, info, warn or error", c.Log.Level)
	}
	if c.Redis.URL != "" {
		u, err := url.Parse(c.Redis.URL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			bad("redis.url", "must start with redis://, rediss:// or unix:// (example: redis://:password@redis:6379/0)")
		}
	}
	if c.Redis.SentinelMaster != "" && len(c.Redis.SentinelAddrs) == 0 {
		bad("redis.sentinel_addrs", "needed with sentinel_master: list the sentinels (example: [\"sentinel-1:26379\"])")
	}
	if c.Redis.MaxDeliveries < 1 {
		bad("redis.max_deliveries", "must be at least 1 (default 3)")
	}
	if c.Worker.Concurrency < 1 || c.Worker.Concurrency > 4096 {
		bad("worker.concurrency", "%d must be between 1 and 4096", c.Worker.Concurrency)
	}
	if t := c.Worker.Timeout.Std(); t < 500*time.Millisecond || t > 2*time.Minute {
		bad("worker.timeout", "%s must be between 500ms and 2m (default 5s)", t)
	}
	if g := c.Worker.DrainGrace.Std(); g < 0 || g > 10*time.Minute {
		bad("worker.drain_grace", "%s must be between 0s and 10m (default 25s)", g)
	}
	if c.Policy.MaxPorts < 1 || c.Policy.MaxPorts > 65535 {
		bad("policy.max_ports", "%d must be between 1 and 65535", c.Policy.MaxPorts)
	}
	for _, key := range []struct {
		name string
		list []string
	}{{"policy.allow", c.Policy.Allow}, {"policy.deny", c.Policy.Deny}} {
		for _, r := range key.list {
			// The policy's own parser, so config check and runtime agree.
			if _, err := policy.ParseRule(r); err != nil {
				bad(key.name, "%v", err)
			}
		}
	}
	for _, p := range c.Policy.NAT64 {
		if _, err := policy.ParseNAT64Prefix(p); err != nil {
			bad("policy.nat64_prefixes", "%v", err)
		}
	}
	for _, p := range c.Policy.Ports {
		if _, err := policy.ParsePortRange(p); err != nil {
			bad("policy.ports", "%v", err)
		}
	}
	if ch := c.Audit.CheckpointChannel; ch != "" {
		chat, id, ok := strings.Cut(ch, ":")
		if !ok || (chat != "slack" && chat != "discord") || id == "" || strings.ContainsAny(id, " ,:") {
			bad("audit.checkpoint_channel", "%q must be slack:<channel id> or discord:<channel id> (example: slack:C0AUDIT)", ch)
		}
		if c.Audit.CheckpointEvery.Std() < time.Minute {
			bad("audit.checkpoint_every", "%s must be at least 1m (default 1h)", c.Audit.CheckpointEvery.Std())
		}
	}
	for _, l := range []struct {
		name string
		v    int
	}{
		{"limits.per_user_per_minute", c.Limits.PerUserPerMinute},
		{"limits.per_channel_per_minute", c.Limits.PerChannelPerMinute},
		{"limits.global_per_minute", c.Limits.GlobalPerMinute},
		{"limits.distinct_targets_per_hour", c.Limits.DistinctTargetsPerHour},
		{"limits.concurrent_per_user", c.Limits.ConcurrentPerUser},
		{"limits.max_command_length", c.Limits.MaxCommandLength},
		{"limits.max_targets", c.Limits.MaxTargets},
		{"watch.max_per_channel", c.Watch.MaxPerChannel},
	} {
		if l.v < 1 {
			bad(l.name, "%d must be at least 1", l.v)
		}
	}
	if c.Watch.MinEvery.Std() <= 0 || c.Watch.DefaultEvery < c.Watch.MinEvery {
		bad("watch.default_every", "%s must be at least watch.min_every (%s)", c.Watch.DefaultEvery.Std(), c.Watch.MinEvery.Std())
	}
	if c.Watch.MaxFor.Std() <= 0 {
		bad("watch.max_for", "must be positive (example: 24h)")
	}
	return errs
}
