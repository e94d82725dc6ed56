package bot

import "testing"

// A chat library's error quotes the URL it called; for an interaction
// reply or a response_url that URL is the credential.
func TestScrubCredentials(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`HTTP 429 Too Many Requests, {"message": "..."} POST https://discord.com/api/v9/webhooks/1234567890/aW50ZXJhY3Rpb246abc.def/messages/@original`,
			`HTTP 429 Too Many Requests, {"message": "..."} POST https://discord.com/api/v9/webhooks/1234567890/REDACTED/messages/@original`},
		{`Post "https://discord.com/api/v9/interactions/99/tok.en-_x/callback": EOF`, `Post "https://discord.com/api/v9/interactions/99/REDACTED/callback": EOF`},
		{`posting to https://hooks.slack.com/actions/T0/123/abcDEF failed`, `posting to https://hooks.slack.com/actions/REDACTED failed`},
		{`invalid_auth for xoxb-1-2-abc`, `invalid_auth for xoxb-REDACTED`},
		{`channel_not_found`, `channel_not_found`},
	} {
		if got := scrubCredentials(tt.in); got != tt.want {
			t.Errorf("scrub(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}
