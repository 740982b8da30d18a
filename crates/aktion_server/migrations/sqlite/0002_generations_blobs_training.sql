-- Blobs, generations, training-data records, beta sign-ups, login limits and server secrets (SQLite).
-- Blob bytes live in the object store under keys derived from their BLAKE3 hash; these rows say
-- who may read which blob.
CREATE TABLE blobs (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    content_type TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, hash)
);
CREATE INDEX blobs_hash ON blobs (hash);

CREATE TABLE generations (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    kind TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'submitting', 'running', 'succeeded', 'failed', 'cancelled')),
    progress_permille INTEGER,
    message TEXT,
    credits INTEGER NOT NULL CHECK (credits >= 0),
    reservation_id INTEGER REFERENCES reservations (id),
    provider_job TEXT,
    outputs TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    op_key TEXT,
    -- The instance driving it, and until when it holds it.
    worker TEXT,
    lease_until INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    UNIQUE (user_id, op_key)
);
CREATE INDEX generations_user ON generations (user_id, created_at);
CREATE INDEX generations_active ON generations (state, lease_until);
CREATE INDEX generations_worker ON generations (worker, state);
CREATE INDEX generations_reservation ON generations (reservation_id);

CREATE TABLE training_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    generation_id TEXT UNIQUE REFERENCES generations (id),
    node_kind TEXT NOT NULL,
    output_type TEXT NOT NULL,
    prompt TEXT,
    settings TEXT NOT NULL,
    character_refs TEXT NOT NULL,
    input_refs TEXT NOT NULL,
    output_hash TEXT NOT NULL,
    output_key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    generation_ms INTEGER,
    rating INTEGER CHECK (rating BETWEEN 1 AND 5),
    created_at INTEGER NOT NULL
);
CREATE INDEX training_user ON training_records (user_id, id);
CREATE INDEX training_kind ON training_records (node_kind, output_type);

CREATE TABLE beta_signups (
    email_key TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Failed logins per hashed email or IP, shared by every instance.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    failures INTEGER NOT NULL
);

CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
