package api

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"
)

// fuzzBodies are the API's request bodies, decoded as their handlers
// decode them.
var fuzzBodies = []func() any{
	func() any { return &CreateRequest{} },
	func() any { return &loginRequest{} },
	func() any { return &NewTokenRequest{} },
	func() any { return &NewUserRequest{} },
	func() any { return &UpdateUserRequest{} },
	func() any { return &ChangePasswordRequest{} },
	func() any { return &ChangeRequest{} },
	func() any { return &TemplateCreateRequest{} },
	func() any { return &QuotaCreateRequest{} },
}

// FuzzJSONBodies sends arbitrary bodies and content types through the
// portal's body bound and JSON decoding into each request type: nothing
// panics or answers 5xx; a body is decoded only when it is JSON, declared
// so, and within the limit (its first JSON value: what follows is not
// read); every refusal is the one error shape with the
// code its status means.
func FuzzJSONBodies(f *testing.F) {
	f.Add([]byte(`{"template":"firefox","resources":{"memory":"2Gi"}}`), "application/json", uint8(0))
	f.Add([]byte(`{"username":"admin","password":"x"}`), "application/x-www-form-urlencoded", uint8(1))
	f.Add([]byte(`{"name":"ci","expiresIn":"720h"}`), "application/json; charset=utf-8", uint8(2))
	f.Add([]byte(`{"spec":{"displayName":1},"reason":["x"]}`), "application/json", uint8(6))
	f.Add(bytes.Repeat([]byte("["), 5000), "application/json", uint8(7))
	f.Add([]byte(`{"role":"admin","disabled":"yes"}`), "text/plain", uint8(4))
	f.Add([]byte("\xff\xfe{}"), "application/json", uint8(3))
	const limit = 4096
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(RenderErrors(logr.Discard()), BoundedJSONBodies(limit, func(string) bool { return false }))
	r.POST("/:kind", func(c *gin.Context) {
		kind, _ := strconv.Atoi(c.Param("kind"))
		v := fuzzBodies[kind%len(fuzzBodies)]()
		if bindJSON(c, v) {
			c.JSON(http.StatusOK, v)
		}
	})
	f.Fuzz(func(t *testing.T, body []byte, contentType string, kind uint8) {
		req := httptest.NewRequest(http.MethodPost, "/"+strconv.Itoa(int(kind)), bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)

		media, _, mediaErr := mime.ParseMediaType(contentType)
		if w.Code == http.StatusOK {
			// (gin reads the first JSON value and ignores what follows it)
			var first any
			firstErr := json.NewDecoder(bytes.NewReader(body)).Decode(&first)
			if len(body) > limit || (len(body) > 0 && (mediaErr != nil || media != "application/json")) || firstErr != nil {
				t.Fatalf("decoded a body it should have refused (%d bytes, %q, JSON: %v)", len(body), contentType, firstErr)
			}
			return
		}
		var answer struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil || answer.Error.Message == "" {
			t.Fatalf("%d is not the error shape: %q", w.Code, w.Body.String())
		}
		want := map[int]string{http.StatusBadRequest: CodeInvalid, http.StatusRequestEntityTooLarge: CodePayloadTooLarge, http.StatusUnsupportedMediaType: CodeUnsupportedMediaType}[w.Code]
		if want == "" || answer.Error.Code != want {
			t.Fatalf("answered %d %q: want 200, 400, 413 or 415 with their codes", w.Code, answer.Error.Code)
		}
	})
}
