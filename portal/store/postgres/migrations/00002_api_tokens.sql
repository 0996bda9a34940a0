-- +goose Up
-- API tokens let automation (service accounts, scripts) call the API
-- without a browser login. Only the SHA-256 of a token is kept.
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    username     TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX api_tokens_username ON api_tokens (username);

-- +goose Down
DROP TABLE api_tokens;
