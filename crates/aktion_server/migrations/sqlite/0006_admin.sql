-- The admin dashboard (PRODUCT.md §5.9, §5.10) (SQLite).
-- Who used the studio on which UTC day (daily active users), written at most once per session
-- per ten minutes, so every instance counts the same.
CREATE TABLE user_days (
    day INTEGER NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (day, user_id)
);

-- Training-data exports written to the blob store by a background job.
CREATE TABLE exports (
    id TEXT PRIMARY KEY,
    requested_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    storage_key TEXT NOT NULL,
    records INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at INTEGER NOT NULL,
    finished_at INTEGER
);
