package slack

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"

	slackgo "github.com/slack-go/slack"
)

// maxBody bounds what we read before the signature is checked; interaction
// payloads carry the clicked message, so leave room for a full one.
const maxBody = 1 << 20

// CommandsHandler serves /slack/commands (slash command request URL).
func (a *Adapter) CommandsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := a.fresh(w, r)
		if !ok {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		s, err := slackgo.SlashCommandParse(r)
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if r.PostForm.Get("ssl_check") == "1" {
			// Slack checking the certificate of the request URL: no command.
			w.WriteHeader(http.StatusOK)
			return
		}
		if !a.seen.first(dedupeKey("cmd", s.TriggerID, body)) {
			a.log.Info("dropping retried command", "command_id", s.TriggerID, "retry", r.Header.Get("X-Slack-Retry-Num"))
			w.WriteHeader(http.StatusOK)
			return
		}
		a.dispatch(a.commandFromSlash(s))
		// An empty 200 acknowledges without echoing anything: the answer is
		// the thread parent the bot posts in the channel.
		w.WriteHeader(http.StatusOK)
	})
}

// InteractionsHandler serves /slack/interactions (buttons).
func (a *Adapter) InteractionsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := a.fresh(w, r)
		if !ok {
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		ic, err := slackgo.InteractionCallbackParse(r)
		if err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		cmd, ok := a.commandFromAction(ic)
		if ok && a.seen.first(dedupeKey("cmd", cmd.ID, body)) {
			a.dispatch(cmd)
		}
		w.WriteHeader(http.StatusOK)
	})
}

// verified reads the body and checks Slack's signature before anything else
// looks at the request. It returns the body and the signature's replay key
// (replayKey). On failure it has answered 401 and returns false.
// fresh is a verified request seen for the first time: an identical
// signature means an identical timestamp and body, a replay (or Slack's
// retry), which gets its 200 and nothing else.
func (a *Adapter) fresh(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, sig, ok := a.verified(w, r)
	if !ok {
		return nil, false
	}
	if !a.seen.first(sig) {
		a.log.Info("dropping replayed request", "path", r.URL.Path, "retry", r.Header.Get("X-Slack-Retry-Num"))
		w.WriteHeader(http.StatusOK)
		return nil, false
	}
	return body, true
}

func (a *Adapter) verified(w http.ResponseWriter, r *http.Request) (body []byte, sig string, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return nil, "", false
		}
		http.Error(w, "bad request", http.StatusBadRequest)
		return nil, "", false
	}
	// NewSecretsVerifier refuses missing headers and timestamps more than
	// 5 minutes off; Ensure compares HMAC-SHA256(v0:ts:body) in constant time.
	sv, err := slackgo.NewSecretsVerifier(r.Header, a.cfg.SigningSecret)
	if err == nil {
		if _, err = sv.Write(body); err == nil {
			err = sv.Ensure()
		}
	}
	if err != nil {
		a.log.Warn("rejecting unverified request", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return nil, "", false
	}
	// The header slack-go just checked (Header.Get: the first one).
	return body, replayKey(r.Header.Get("X-Slack-Signature")), true
}

// replayKey is the signature as the HMAC it stands for, not as it was
// written: slack-go decodes the hex whatever its case, so "v0=ABC…" and
// "v0=abc…" are the same valid signature and must be one key, or an
// upper-cased copy of a captured request passes as new.
func replayKey(header string) string {
	hexSig, ok := strings.CutPrefix(header, "v0=")
	if b, err := hex.DecodeString(hexSig); ok && err == nil {
		return "sig:v0=" + hex.EncodeToString(b)
	}
	return "sig:" + header // not reached: verified refused it already
}

// dedupeKey prefers Slack's id; without one the body stands in for it.
func dedupeKey(kind, id string, body []byte) string {
	if id != "" {
		return kind + ":" + id
	}
	sum := sha256.Sum256(body)
	return kind + ":body:" + hex.EncodeToString(sum[:])
}
