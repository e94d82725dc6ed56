// Package wire is the contract between the conversation (bot), the
// workers and the stores: the jobs and results that travel on the queue,
// who and where they are for, and the small interfaces a store implements.
// It imports nothing of ours but checks (a Result carries a checks.Report),
// so a store or a worker needs neither the chat nor the conversation.
package wire

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/portcheck/portcheck/checks"
)

// User is who typed a command.
type User struct {
	ID     string   `json:"id"`
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"` // Slack user groups, Discord role ids: used by authorization
}

// Channel is where a command was typed. Ref is adapter-private (a Slack
// response_url, a Discord interaction token): it is a chat credential, so it
// stays on the bot side (bot.Threads) and jobs carry the Channel without it.
type Channel struct {
	Chat string `json:"chat"` // "slack", "discord", "shell"
	Team string `json:"team,omitempty"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Ref  string `json:"ref,omitempty"`
}

// Thread is a conversation: the parent message and its replies.
type Thread struct {
	Channel Channel `json:"channel"`
	ID      string  `json:"id"`            // parent message id: Slack ts, Discord message id, shell sequence
	Ref     string  `json:"ref,omitempty"` // adapter-private (Discord: its token and thread); like Channel.Ref, never in a job
}

// Job is one (command, target port, vantage): the unit of work on the queue.
type Job struct {
	ID         string        `json:"id"`
	CommandID  string        `json:"command_id"`
	Target     string        `json:"target"` // as typed, e.g. "web01:443"
	Host       string        `json:"host"`
	Port       int           `json:"port"`
	Scheme     string        `json:"scheme,omitempty"`
	Addrs      []string      `json:"addrs,omitempty"` // pre-resolved and policy-checked addresses to probe, if any
	Vantage    string        `json:"vantage"`
	Trace      bool          `json:"trace,omitempty"`
	Timeout    time.Duration `json:"timeout"`
	Thread     Thread        `json:"thread"`
	Attempt    int           `json:"attempt,omitempty"`
	EnqueuedAt time.Time     `json:"enqueued_at"`

	// DeadLetter is set on the Job of the error Result a queue publishes
	// when it gives up on a job after too many deliveries (its workers
	// crashed or timed out each time), so the thread can say so.
	DeadLetter bool `json:"dead_letter,omitempty"`

	// ReplyTo names the bot process that opened the run (Params.Instance),
	// so a results store shared by several bot processes can route the
	// result back to the one holding the run's state (it aggregates a
	// 1024-port range into one reply). Empty: any bot process.
	ReplyTo string `json:"reply_to,omitempty"`

	// RunJobs is how many jobs the run has, so a bot process posting
	// results of a run it does not hold (its own died) can tell when the
	// last one is in and give the parent the run's verdict (orphan.go).
	RunJobs int `json:"run_jobs,omitempty"`

	// HostLocal marks a job for the target's own agent (vantage
	// host:<name>): it answers with the host's facts, not probes, and the
	// bot merges them with the external results of the same port.
	HostLocal bool `json:"host_local,omitempty"`
}

// Delivery is a job handed to a worker; Ack after its result is published.
type Delivery interface {
	Job() Job
	Ack(ctx context.Context) error
	// Release hands the job back unfinished (a worker draining on
	// SIGTERM), so another worker takes it at once rather than after the
	// queue's redelivery timeout (Redis: ClaimIdle, minutes).
	Release(ctx context.Context) error
}

// Queue carries jobs to workers of a vantage.
type Queue interface {
	Enqueue(ctx context.Context, j Job) error
	Next(ctx context.Context, vantage string) (Delivery, error) // blocks until a job or ctx is done
}

// Result is a finished job travelling back to the bot side, which posts it:
// workers never hold chat credentials.
type Result struct {
	Job      Job           `json:"job"`
	Report   checks.Report `json:"report"`
	Error    string        `json:"error,omitempty"` // the worker failed (panic, deadline): said in the thread
	Finished time.Time     `json:"finished"`

	// Progress, when set, marks an interim note from a worker still busy
	// with the job ("still checking…, tracing the path"): posted in the
	// thread as is; the final Result for the job follows.
	Progress string `json:"progress,omitempty"`

	// Facts, from a host agent (Job.HostLocal), are what it saw on the
	// target host (agent.Facts as JSON). Kept raw so bot does not depend on
	// the agent package; HostFacts interprets them.
	Facts json.RawMessage `json:"facts,omitempty"`
}

// ResultDelivery is a result handed to the bot side; Ack once posted.
type ResultDelivery interface {
	Result() Result
	Ack(ctx context.Context) error
}

// Results carries results from workers back to the bot side.
type Results interface {
	Publish(ctx context.Context, r Result) error
	Next(ctx context.Context) (ResultDelivery, error)
}

// Claims remembers that something happened once, so retries and replays do
// not happen twice: a command id handled, a job's result posted. In
// distributed mode several bot processes share one Claims (Redis SET NX), so
// a Slack retry landing on another process is still recognised.
type Claims interface {
	// Claim returns true the first time key is claimed within ttl, false
	// afterwards.
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// WorkerInfo is one live worker as its registry sees it (Redis heartbeats):
// what `/portcheck vantages` lists.
type WorkerInfo struct {
	Vantage  string
	Worker   string // the worker process
	Version  string
	Labels   map[string]string
	LastSeen time.Time
}

// AgentPrefix starts the vantage name of a host agent: host:<hostname>.
const AgentPrefix = "host:"

// HostPort is "host:port" (brackets for IPv6) for the job's target port.
func (j Job) HostPort() string {
	h := j.Host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return h + ":" + strconv.Itoa(j.Port)
}
