// Package bot is the conversation: the command grammar, the threads and
// their runs, admission, and the chat-neutral Message. Chat SDK types never
// reach here; adapters implement Chat, and the jobs and results it trades
// with workers are the wire package's.
package bot

import (
	"context"
	"time"

	"github.com/portcheck/portcheck/wire"
)

// Command is one request typed in a chat, normalised by the adapter.
type Command struct {
	ID      string       `json:"id"` // chat-unique request id: retries and replays carry the same one
	Channel wire.Channel `json:"channel"`
	User    wire.User    `json:"user"`
	Text    string       `json:"text"`             // what followed /portcheck
	Thread  *wire.Thread `json:"thread,omitempty"` // set when typed in a thread or sent by a button (again)
	At      time.Time    `json:"at"`
}

// Handler receives commands from adapters. Handle must return quickly (the
// chat's 3 s acknowledgement deadline): long work happens on the queue.
type Handler interface {
	Handle(ctx context.Context, chat Chat, cmd Command) error
}

// Chat is what an adapter lends the bot to talk back.
type Chat interface {
	Start(ctx context.Context, c wire.Channel, m Message) (wire.Thread, error)   // the parent message
	Reply(ctx context.Context, t wire.Thread, m Message) error                   // a threaded reply
	Update(ctx context.Context, t wire.Thread, m Message) error                  // edit the parent
	Ephemeral(ctx context.Context, c wire.Channel, u wire.User, m Message) error // only the caller sees it (help, input errors, denials)
}

// Status is the state a message conveys; renderers map it to an emoji/colour.
type Status string

const (
	StatusRunning Status = "running"
	StatusOK      Status = "ok"      // open
	StatusProblem Status = "problem" // the target is not reachable: a finding
	StatusError   Status = "error"   // portcheck itself failed
	StatusInfo    Status = "info"
	StatusUnknown Status = "unknown" // a verdict that says neither yes nor no (inconclusive, or one this build does not know)
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
