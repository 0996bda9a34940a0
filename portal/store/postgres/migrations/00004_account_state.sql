-- +goose Up
-- A one-time password (the bootstrap admin's, or one an admin set) must be
-- changed at the first sign-in before anything else is allowed.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;

-- The names of deleted accounts: the account's home volume (and its
-- sessions' history) may outlive it, so a new account of the same name,
-- above all one an identity provider names, waits until an admin releases
-- the name.
CREATE TABLE deleted_users (
    username   TEXT PRIMARY KEY,
    source     TEXT NOT NULL,
    subject    TEXT NOT NULL,
    deleted_at TIMESTAMPTZ NOT NULL,
    deleted_by TEXT NOT NULL
);

-- The identity provider's side of an SSO login (one per refresh token
-- family): its refresh token, encrypted by the portal, and when the
-- provider last confirmed the person.
CREATE TABLE provider_logins (
    family        TEXT PRIMARY KEY,
    username      TEXT NOT NULL,
    refresh_token TEXT NOT NULL,
    checked_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX provider_logins_username ON provider_logins (username);

-- +goose Down
DROP TABLE provider_logins;
DROP TABLE deleted_users;
ALTER TABLE users DROP COLUMN must_change_password;
