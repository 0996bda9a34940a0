// probe does what each event's data asks, to test the sandbox: behave,
// or try to get out of it.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/streamspace/streamspace/plugins/sdk"
)

func init() { sdk.Handle(handle) }

func main() {}

type order struct {
	Do   string `json:"do"`
	Arg  string `json:"arg"`
	Body string `json:"body"`
}

var hoard [][]byte

func handle(e sdk.Event) error {
	var o order
	if err := json.Unmarshal(e.Data, &o); err != nil {
		return sdk.Permanent(err)
	}
	switch o.Do {
	case "ok":
		return nil
	case "post": // POST the event to the URL in arg
		return sdk.PostJSON(o.Arg, map[string]string{"id": e.ID, "body": o.Body})
	case "time": // report the clock the plugin sees
		return sdk.PostJSON(o.Arg, map[string]string{"now": time.Now().UTC().Format(time.RFC3339Nano)})
	case "config":
		var c map[string]any
		if err := sdk.Config(&c); err != nil {
			return err
		}
		return sdk.PostJSON(o.Arg, c)
	case "retry":
		return errors.New("try again later")
	case "permanent":
		return sdk.Permanent(errors.New("never"))
	case "print":
		for range 1000 {
			fmt.Println("a line of output from the probe")
		}
		return nil
	case "readfile":
		data, err := os.ReadFile(o.Arg)
		return fmt.Errorf("read %d bytes: %q, %v", len(data), data, err)
	case "dial":
		c, err := net.Dial("tcp", o.Arg)
		if err == nil {
			_, _ = c.Write([]byte("escaped"))
			c.Close()
		}
		return fmt.Errorf("dial: %v", err)
	case "loop":
		for i := 0; ; i++ {
			if i < 0 {
				return nil
			}
		}
	case "sleep":
		time.Sleep(time.Hour)
		return nil
	case "alloc":
		for {
			hoard = append(hoard, make([]byte, 1<<20))
			hoard[len(hoard)-1][0] = 1
		}
	case "panic":
		panic("probe panics: " + o.Arg)
	}
	return sdk.Permanent(fmt.Errorf("unknown order %q", o.Do))
}
