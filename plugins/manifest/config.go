package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ConfigError is a plugin configuration that its configSchema refuses.
type ConfigError struct {
	// Path of the first refused value inside the configuration (object
	// keys and array indexes); empty for the configuration as a whole.
	Path []string
	// Message is the schema's, on one line ("at '/channel': got number,
	// want string").
	Message string
}

func (e *ConfigError) Error() string { return e.Message }

// ValidateConfig checks a plugin's configuration (JSON; empty means {})
// against the plugin's configSchema (empty: the plugin takes no
// configuration). The agent's controller, its admission webhook, the
// portal and `streamspace validate` all refuse with this one message.
func ValidateConfig(schema, config []byte) error {
	if len(bytes.TrimSpace(config)) == 0 {
		config = []byte("{}")
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(config))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return &ConfigError{Message: "config is not JSON: " + err.Error()}
	}
	obj, isObject := v.(map[string]any)
	if !isObject {
		return &ConfigError{Message: "config must be an object"}
	}
	if len(schema) == 0 {
		if len(obj) > 0 {
			return &ConfigError{Message: "this plugin takes no configuration (its manifest has no configSchema)"}
		}
		return nil
	}
	s, err := CompileSchema(schema)
	if err != nil {
		return errors.New("the plugin's configSchema does not compile: " + err.Error())
	}
	err = s.Validate(v)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	msg := leafCauses(err.Error())
	if msg == "" || strings.HasPrefix(msg, "jsonschema validation failed") {
		msg = strings.TrimSpace(err.Error())
	}
	return &ConfigError{Path: leaf.InstanceLocation, Message: msg}
}
