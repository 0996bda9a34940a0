package wasm

import (
	"context"
	"errors"
	"fmt"

	"github.com/streamspace/streamspace/plugins/event"
)

// newPlugin is replaced by the sandbox in the next commit; until then no
// wasm plugin runs (the exported API lands first so the portal can build
// on it).
func newPlugin(context.Context, []byte, event.Plugin, Host, Limits) (event.Deliverer, error) {
	return nil, fmt.Errorf("wasm plugins: runtime not available yet: %w", errors.Join(event.ErrPermanent))
}
