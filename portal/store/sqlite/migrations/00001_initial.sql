-- +goose Up
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL UNIQUE,
    display       TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL DEFAULT '',
    role          TEXT NOT NULL DEFAULT 'user',
    groups        TEXT NOT NULL DEFAULT '[]',
    source        TEXT NOT NULL DEFAULT 'local',
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL,
    last_login_at DATETIME
);

CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    family     TEXT NOT NULL,
    username   TEXT NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    revoked_at DATETIME
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_username ON refresh_tokens (username);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          DATETIME NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL DEFAULT '',
    remote_addr TEXT NOT NULL DEFAULT '',
    detail      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE TABLE session_history (
    session            TEXT PRIMARY KEY,
    username           TEXT NOT NULL,
    template           TEXT NOT NULL,
    started_at         DATETIME NOT NULL,
    ended_at           DATETIME,
    end_reason         TEXT NOT NULL DEFAULT '',
    hibernations       INTEGER NOT NULL DEFAULT 0,
    hibernated_seconds INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX session_history_started ON session_history (started_at);

-- +goose Down
DROP TABLE session_history;
DROP TABLE audit_log;
DROP TABLE refresh_tokens;
DROP TABLE users;
