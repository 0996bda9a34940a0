// Package firstadmin takes over the bootstrap admin of a portal that just
// started, as its operator does: read the one-time password from the file
// the portal named (never from its output), sign in, change it.
package firstadmin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
)

// pathLine is how the portal names the file (auth.Bootstrap).
var pathLine = regexp.MustCompile(`one-time password is in (\S+) \(`)

// OneTime reads the bootstrap admin's name and one-time password from the
// file named in out, a portal's output; ok is false while the portal has
// not named it yet.
func OneTime(out string) (user, password string, ok bool, err error) {
	m := pathLine.FindStringSubmatch(out)
	if m == nil {
		return "", "", false, nil
	}
	b, err := os.ReadFile(m[1])
	if err != nil {
		return "", "", false, err
	}
	user, password, found := strings.Cut(strings.TrimSpace(string(b)), ":")
	if !found {
		return "", "", false, fmt.Errorf("%s holds no user:password", m[1])
	}
	return user, password, true, nil
}

// Claim signs in at base (the portal's URL) with the one-time password and
// changes it to next, which the portal requires before anything else. It
// returns the access token of the new login.
func Claim(ctx context.Context, base, user, oneTime, next string) (string, error) {
	tokens, err := post(ctx, base+"/api/v1/auth/login", "", map[string]string{"username": user, "password": oneTime})
	if err != nil {
		return "", fmt.Errorf("sign in with the one-time password: %w", err)
	}
	tokens, err = post(ctx, base+"/api/v1/users/me/password", tokens.AccessToken, map[string]string{"currentPassword": oneTime, "newPassword": next})
	if err != nil {
		return "", fmt.Errorf("change the one-time password: %w", err)
	}
	return tokens.AccessToken, nil
}

type tokens struct {
	AccessToken string `json:"accessToken"`
}

func post(ctx context.Context, url, bearer string, body any) (tokens, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return tokens{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return tokens{}, err
	}
	defer resp.Body.Close()
	var out tokens
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		return tokens{}, fmt.Errorf("%s answered %d", url, resp.StatusCode)
	}
	return out, nil
}
