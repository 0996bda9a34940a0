package oidctest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// ErrLoginRejected is returned by SignIn when Dex shows its login form
// again after the password was posted: a wrong email or password.
var ErrLoginRejected = errors.New("oidctest: dex rejected the email or password (login form shown again)")

// NewBrowser is an HTTP client with a cookie jar that does not follow
// redirects, so a test sees (and can assert on) every hop.
func NewBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// SignIn does what a person does in a browser: it opens start (the app's
// login URL, or Dex's authorization URL), follows the redirects to Dex,
// fills in and posts Dex's login form, and follows Dex's redirects until
// Dex sends the browser back to the app. It returns that URL (the app's
// redirect URI with code and state, or with an error) without opening it,
// so the test chooses how to call the app's callback.
//
// browser must keep cookies (the app's flow cookie, Dex's none) and must
// not follow redirects itself: use NewBrowser.
func (p *Provider) SignIn(ctx context.Context, browser *http.Client, start, email, password string) (*url.URL, error) {
	next, err := url.Parse(start)
	if err != nil {
		return nil, err
	}
	method, form, posted := http.MethodGet, url.Values(nil), false
	for hop := 0; hop < 20; hop++ {
		resp, err := p.do(ctx, browser, method, next, form)
		if err != nil {
			return nil, err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		method, form = http.MethodGet, nil

		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			to, err := resp.Location()
			if err != nil {
				return nil, fmt.Errorf("oidctest: %s %s: redirect without a Location: %w", resp.Request.Method, next, err)
			}
			if p.isDex(next) && !p.isDex(to) {
				return to, nil // Dex is done: back to the app
			}
			next = to
		case p.isDex(next) && (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized):
			action, fields, ok := loginForm(body)
			if !ok {
				return nil, fmt.Errorf("oidctest: %s answered %d without a login form: %.300s", next, resp.StatusCode, body)
			}
			if posted {
				return nil, ErrLoginRejected
			}
			if !fields["login"] || !fields["password"] {
				return nil, fmt.Errorf("oidctest: dex's login form has no login and password fields: %.300s", body)
			}
			if next, err = next.Parse(action); err != nil {
				return nil, fmt.Errorf("oidctest: login form action %q: %w", action, err)
			}
			method, form, posted = http.MethodPost, url.Values{"login": {email}, "password": {password}}, true
		default:
			return nil, fmt.Errorf("oidctest: %s answered %d: %.300s", next, resp.StatusCode, body)
		}
	}
	return nil, errors.New("oidctest: more than 20 redirects")
}

func (p *Provider) do(ctx context.Context, browser *http.Client, method string, u *url.URL, form url.Values) (*http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return browser.Do(req)
}

func (p *Provider) isDex(u *url.URL) bool {
	return strings.HasPrefix(u.String(), p.Issuer+"/")
}

// loginForm finds the first POST form of a page: its action and the names
// of its inputs.
func loginForm(page []byte) (action string, fields map[string]bool, ok bool) {
	z := html.NewTokenizer(strings.NewReader(string(page)))
	inForm := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return action, fields, ok
		case html.StartTagToken, html.SelfClosingTagToken:
			t := z.Token()
			switch {
			case t.Data == "form" && !ok && strings.EqualFold(attr(t, "method"), "post"):
				action, fields, ok, inForm = attr(t, "action"), map[string]bool{}, true, true
			case t.Data == "input" && inForm:
				fields[attr(t, "name")] = true
			}
		case html.EndTagToken:
			if t := z.Token(); t.Data == "form" && inForm {
				return action, fields, ok
			}
		}
	}
}

func attr(t html.Token, name string) string {
	for _, a := range t.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}
