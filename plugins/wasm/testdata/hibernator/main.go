// hibernator hibernates and annotates the event's session: a module that
// imports the host functions behind sessions:hibernate and
// sessions:annotate.
package main

import "github.com/streamspace/streamspace/plugins/sdk"

func init() { sdk.Handle(handle) }

func main() {}

func handle(e sdk.Event) error {
	if err := sdk.AnnotateSession(e.Subject, "example.com/seen", e.ID); err != nil {
		return err
	}
	return sdk.HibernateSession(e.Subject)
}
