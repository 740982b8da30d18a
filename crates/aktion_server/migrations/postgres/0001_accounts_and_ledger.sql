-- Accounts, sessions, the credits ledger and stored idempotent answers (PostgreSQL).
-- Times are Unix milliseconds; flags are 0/1 integers so the same queries run on PostgreSQL.
CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin BIGINT NOT NULL DEFAULT 0,
    balance BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    data_sharing_opt_in BIGINT NOT NULL DEFAULT 0,
    data_sharing_opted_in_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE reservations (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL CHECK (status IN ('open', 'charged', 'released')),
    op_key TEXT,
    reason TEXT NOT NULL,
    lease_until BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    settled_at BIGINT,
    UNIQUE (user_id, op_key)
);
CREATE INDEX reservations_open ON reservations (status, lease_until);

CREATE TABLE ledger_entries (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'charge', 'release')),
    delta BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
    reservation_id BIGINT REFERENCES reservations (id),
    op_key TEXT,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (user_id, op_key)
);
CREATE INDEX ledger_user ON ledger_entries (user_id, id);

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status BIGINT,
    body TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
);
