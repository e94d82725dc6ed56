package discord

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/bwmarrin/discordgo"
)

const (
	// InteractionsPath is where HTTP mode listens (set the application's
	// Interactions Endpoint URL to https://<host><InteractionsPath>).
	InteractionsPath = "/discord/interactions"
	// maxSkew refuses replayed requests: a captured, validly signed body
	// is only good for this long.
	maxSkew      = 5 * time.Minute
	maxBodyBytes = 1 << 20
)

// InteractionsHandler serves Discord's HTTP interactions. The signature is
// checked before anything else is read; Discord probes with bad signatures
// and expects 401.
func (a *Adapter) InteractionsHandler() http.Handler {
	return http.HandlerFunc(a.serveInteraction)
}

func (a *Adapter) serveInteraction(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if len(a.cfg.PublicKey) == 0 {
		http.Error(w, "interactions endpoint not configured", http.StatusNotFound)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if !discordgo.VerifyInteraction(r, a.cfg.PublicKey) {
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	// VerifyInteraction does not look at the timestamp's age.
	ts, err := strconv.ParseInt(r.Header.Get("X-Signature-Timestamp"), 10, 64)
	if err != nil {
		http.Error(w, "invalid request signature", http.StatusUnauthorized)
		return
	}
	if d := a.now().Sub(time.Unix(ts, 0)); d > maxSkew || d < -maxSkew {
		http.Error(w, "stale request timestamp", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(r.Body) // restored by VerifyInteraction
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	var i discordgo.Interaction
	if err := json.Unmarshal(body, &i); err != nil {
		http.Error(w, "bad interaction", http.StatusBadRequest)
		return
	}
	rc := a.receive(&i)
	b, err := json.Marshal(rc.resp)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	if rc.dup {
		// Discord retried an interaction we took already: acknowledge
		// again, run nothing again.
		a.log.Debug("discord: duplicate interaction ignored", "interaction", i.ID)
		return
	}
	if f, ok := w.(http.Flusher); ok {
		// The bot's first edit must not overtake the acknowledgement.
		f.Flush()
	}
	if rc.cmd != nil {
		a.dispatch(*rc.cmd, rc.ref)
	}
}
