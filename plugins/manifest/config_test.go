package manifest

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidateConfig(t *testing.T) {
	schema := []byte(`{"type":"object","properties":{"channel":{"type":"string"},"hours":{"type":"array","items":{"type":"integer","maximum":23}}},"required":["channel"],"additionalProperties":false}`)
	for _, tc := range []struct {
		name, config, want string
		path               []string
	}{
		{name: "valid", config: `{"channel":"#ops","hours":[1,2]}`},
		{name: "wrong type", config: `{"channel":7}`, want: "at '/channel': got number, want string", path: []string{"channel"}},
		{name: "nested", config: `{"channel":"x","hours":[1,24]}`, want: "at '/hours/1': maximum: got 24, want 23", path: []string{"hours", "1"}},
		{name: "missing", config: `{}`, want: "missing property 'channel'"},
		{name: "empty is {}", config: ``, want: "missing property 'channel'"},
		{name: "not an object", config: `[1]`, want: "config must be an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateConfig(schema, []byte(tc.config))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(ce.Message, tc.want) {
				t.Fatalf("got %v, want a ConfigError with %q", err, tc.want)
			}
			if tc.path != nil && !slices.Equal(ce.Path, tc.path) {
				t.Errorf("path %v, want %v", ce.Path, tc.path)
			}
		})
	}
	if err := ValidateConfig(nil, []byte(`{"a":1}`)); err == nil {
		t.Error("a plugin without a schema took a configuration")
	}
}
