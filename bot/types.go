// Package bot is the chat-independent core: the command grammar, the
// conversation (thread) model, job orchestration, the worker loop, audit
// records and the chat-neutral Message. Chat SDK types never reach here;
// adapters and stores implement the small interfaces below.
package bot

import (
	"context"
	"encoding/json"
	"time"

	"github.com/portcheck/portcheck/checks"
)

// User is who typed a command.
type User struct {
	ID     string   `json:"id"`
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"` // Slack user groups, Discord role ids: used by authorization
}

// Channel is where a command was typed. Ref is adapter-private and must be
// serialisable (it travels through Redis with the job): a Slack response_url,
// a Discord interaction token, ...
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
	Ref     string  `json:"ref,omitempty"` // adapter-private (e.g. Discord thread channel id)
}

// Command is one request typed in a chat, normalised by the adapter.
type Command struct {
	ID      string    `json:"id"` // chat-unique request id: retries and replays carry the same one
	Channel Channel   `json:"channel"`
	User    User      `json:"user"`
	Text    string    `json:"text"`             // what followed /portcheck
	Thread  *Thread   `json:"thread,omitempty"` // set when typed in a thread or sent by a button (again)
	At      time.Time `json:"at"`
}

// Handler receives commands from adapters. Handle must return quickly (the
// chat's 3 s acknowledgement deadline): long work happens on the queue.
type Handler interface {
	Handle(ctx context.Context, chat Chat, cmd Command) error
}

// Chat is what an adapter lends the bot to talk back.
type Chat interface {
	Start(ctx context.Context, c Channel, m Message) (Thread, error)   // the parent message
	Reply(ctx context.Context, t Thread, m Message) error              // a threaded reply
	Update(ctx context.Context, t Thread, m Message) error             // edit the parent
	Ephemeral(ctx context.Context, c Channel, u User, m Message) error // only the caller sees it (help, input errors, denials)
}

// Status is the state a message conveys; renderers map it to an emoji/colour.
type Status string

const (
	StatusRunning Status = "running"
	StatusOK      Status = "ok"      // open
	StatusProblem Status = "problem" // the target is not reachable: a finding
	StatusError   Status = "error"   // portcheck itself failed
	StatusInfo    Status = "info"
)

// Message is chat-neutral; each adapter renders it (Block Kit, embed, text).
type Message struct {
	Status  Status   `json:"status,omitempty"`
	Text    string   `json:"text"` // one line, always set: the fallback text and the parent's headline
	Fields  []Field  `json:"fields,omitempty"`
	Blocks  []Block  `json:"blocks,omitempty"`
	Buttons []Button `json:"buttons,omitempty"`
}

// Field is a short name/value pair (target, address, vantage, elapsed).
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// BlockKind says how a block renders.
type BlockKind string

const (
	BlockText BlockKind = "text" // prose
	BlockCode BlockKind = "code" // preformatted: traces, commands
)

// Block is a titled chunk of a message body.
type Block struct {
	Kind  BlockKind `json:"kind"`
	Title string    `json:"title,omitempty"`
	Text  string    `json:"text"`
}

// Button is an action on a message; adapters send its ID and Value back as a
// Command (e.g. ID "again" -> Text "again" with Thread set).
type Button struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Value string `json:"value"`
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

// Record is one line of the audit trail. Records are appended, never
// rewritten: a result is a new record pointing at its command.
type Record struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Kind      string    `json:"kind"` // "command", "result", "post_error", ...
	Chat      string    `json:"chat"`
	Team      string    `json:"team,omitempty"`
	Channel   string    `json:"channel"`
	User      string    `json:"user"`
	Text      string    `json:"text,omitempty"`
	Targets   []string  `json:"targets,omitempty"`
	Decision  string    `json:"decision,omitempty"` // "queued", "denied", "invalid", ...
	Why       string    `json:"why,omitempty"`
	CommandID string    `json:"command_id,omitempty"`
	JobID     string    `json:"job_id,omitempty"`
	Target    string    `json:"target,omitempty"`
	Address   string    `json:"address,omitempty"`
	Vantage   string    `json:"vantage,omitempty"`
	Verdict   string    `json:"verdict,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	ElapsedMS int64     `json:"elapsed_ms,omitempty"`
	// Thread is the thread's id in its chat (the parent message), so a
	// thread's check can be found again after a restart or by another bot
	// process (again, the Re-check button).
	Thread   string `json:"thread,omitempty"`
	PrevHash string `json:"prev_hash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// AuditQuery selects records; zero fields match everything.
type AuditQuery struct {
	Chat    string
	Channel string
	Target  string
	Kind    string
	Thread  string // records of one thread (with Chat and Channel)
	Since   time.Time
	Limit   int
}

// Audit is the append-only audit trail.
type Audit interface {
	Append(ctx context.Context, r Record) error
	Query(ctx context.Context, q AuditQuery) ([]Record, error)
}
