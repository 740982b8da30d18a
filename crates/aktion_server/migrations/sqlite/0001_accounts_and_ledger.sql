-- Accounts, sessions, the credits ledger and stored idempotent answers (SQLite).
-- Times are Unix milliseconds; flags are 0/1 integers so the same queries run on PostgreSQL.
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    data_sharing_opt_in INTEGER NOT NULL DEFAULT 0,
    data_sharing_opted_in_at INTEGER,
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    amount INTEGER NOT NULL CHECK (amount > 0),
    status TEXT NOT NULL CHECK (status IN ('open', 'charged', 'released')),
    op_key TEXT,
    reason TEXT NOT NULL,
    lease_until INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    settled_at INTEGER,
    UNIQUE (user_id, op_key)
);
CREATE INDEX reservations_open ON reservations (status, lease_until);

CREATE TABLE ledger_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'reserve', 'charge', 'release')),
    delta INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    reservation_id INTEGER REFERENCES reservations (id),
    op_key TEXT,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (user_id, op_key)
);
CREATE INDEX ledger_user ON ledger_entries (user_id, id);

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER,
    body TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (scope, key)
);
