package bot

import "time"

// ingressTimeout bounds what Handle asks a shared store (Redis) before it
// answers: the command dedupe. Adapters acknowledge the chat first, but the
// user should still hear "the queue is down" within the chat's 3 s.
const ingressTimeout = 2 * time.Second

// queueUnavailable starts the thread's answer for jobs that could not be
// queued (Redis down between the dedupe and the enqueue).
const queueUnavailable = "the job queue is unavailable, try again in a minute (nothing ran): "
