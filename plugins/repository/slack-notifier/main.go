// slack-notifier posts a message to a Slack incoming webhook (or any
// service that accepts Slack's JSON) for each session and user event.
package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/streamspace/streamspace/plugins/sdk"
)

func init() { sdk.Handle(handle) }

func main() {}

type config struct {
	WebhookURL string `json:"webhookURL"`
	Channel    string `json:"channel,omitempty"`
	Username   string `json:"username,omitempty"`
}

// message is Slack's incoming-webhook payload.
type message struct {
	Text     string `json:"text"`
	Channel  string `json:"channel,omitempty"`
	Username string `json:"username,omitempty"`
}

// conf is read once: the configuration of a running plugin never changes
// (a new configuration loads the plugin again).
var conf *config

func handle(e sdk.Event) error {
	if conf == nil {
		var c config
		if err := sdk.Config(&c); err != nil {
			return err
		}
		conf = &c
	}
	text, err := describe(e)
	if err != nil {
		return sdk.Permanent(err)
	}
	return sdk.PostJSON(conf.WebhookURL, message{Text: text, Channel: conf.Channel, Username: conf.Username})
}

var verbs = map[string]string{
	sdk.SessionCreated:    "was created",
	sdk.SessionStarted:    "started",
	sdk.SessionStopped:    "stopped",
	sdk.SessionHibernated: "hibernated",
	sdk.SessionWoken:      "woke up",
	sdk.SessionDeleted:    "was deleted",
	sdk.UserCreated:       "was created",
	sdk.UserUpdated:       "was updated",
	sdk.UserDeleted:       "was deleted",
	sdk.UserLogin:         "signed in",
	sdk.UserLogout:        "signed out",
}

// describe says what happened in one line of Slack markup.
func describe(e sdk.Event) (string, error) {
	verb, ok := verbs[e.Type]
	if !ok {
		return "", fmt.Errorf("event type %q is not one this plugin knows", e.Type)
	}
	at := e.Time.UTC().Format("2006-01-02 15:04 UTC")
	if strings.HasPrefix(e.Type, "session.") {
		var d struct{ User, Template, Reason string }
		if err := json.Unmarshal(e.Data, &d); err != nil {
			return "", fmt.Errorf("session event data: %w", err)
		}
		text := fmt.Sprintf("Session *%s* %s (%s for %s) at %s", escape(e.Subject), verb, escape(d.Template), escape(d.User), at)
		if d.Reason != "" {
			text += ": " + escape(d.Reason)
		}
		return text, nil
	}
	var d struct{ Role, Source string }
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return "", fmt.Errorf("user event data: %w", err)
	}
	return fmt.Sprintf("User *%s* (%s, %s) %s at %s", escape(e.Subject), escape(d.Role), escape(d.Source), verb, at), nil
}

// escape keeps a name from being read as Slack markup (a link, a
// mention): Slack asks for &, < and > to be escaped.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
