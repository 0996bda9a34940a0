package portal

import _ "embed"

// openAPI describes the API; a test keeps it and the router in step.
//
//go:embed openapi.json
var openAPI []byte
