-- +goose Up
-- Apps tickets already exchanged, so that a ticket is spent once across
-- every portal replica sharing the database. A row is kept a while past its
-- ticket's expiry (clock skew between replicas), then forgotten: an expired
-- ticket is refused by its own signature.
CREATE TABLE spent_tickets (
    id         TEXT PRIMARY KEY,
    keep_until TIMESTAMPTZ NOT NULL
);
CREATE INDEX spent_tickets_keep_until ON spent_tickets (keep_until);

-- +goose Down
DROP TABLE spent_tickets;
