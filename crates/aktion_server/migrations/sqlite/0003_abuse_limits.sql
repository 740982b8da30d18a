-- Counters shared by every instance: registrations per address and in all, login attempts with
-- growing delays, the daily starter-grant budget (PRODUCT.md §5.4). Replaces login_failures.
CREATE TABLE rate_counters (
    key TEXT PRIMARY KEY,
    window_start INTEGER NOT NULL,
    hits INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    delay_ms INTEGER NOT NULL
);
CREATE INDEX rate_counters_last_at ON rate_counters (last_at);

DROP TABLE login_failures;

-- A driver that failed on a server error gives its generation up (worker cleared) and counts
-- it here; after a few, the generation fails and its reservation is released.
ALTER TABLE generations ADD COLUMN driver_failures INTEGER NOT NULL DEFAULT 0;

-- Sessions also end after a time without use (an idle timeout besides the fixed expiry).
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET last_seen_at = created_at;
