-- +goose Up
-- The identity provider's stable ID of an SSO user (issuer and subject):
-- a provider may let people rename themselves, and a username that
-- changes hands must not hand over the account.
ALTER TABLE users ADD COLUMN subject TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE users DROP COLUMN subject;
