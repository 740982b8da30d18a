//! Accounts: Argon2id password hashes, random session tokens stored as BLAKE3 hashes, users,
//! and the login rate limiter.

use std::net::IpAddr;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use sqlx::Row;

use crate::db::{Db, is_unique_violation, now_ms};
use crate::{ApiError, ledger};

/// Argon2id cost. The default is the OWASP minimum (19 MiB, 2 passes); tests use less.
#[derive(Debug, Clone, Copy)]
pub struct PasswordCost {
    pub memory_kib: u32,
    pub passes: u32,
}

impl Default for PasswordCost {
    fn default() -> Self {
        Self {
            memory_kib: Params::DEFAULT_M_COST,
            passes: Params::DEFAULT_T_COST,
        }
    }
}

fn argon2(cost: PasswordCost) -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(cost.memory_kib, cost.passes, 1, None)
        .map_err(|e| ApiError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Argon2 runs on a few threads of its own, never on tokio's blocking pool: each Argon2 call
/// allocates its 19 MiB on the thread that runs it, and the allocator keeps that memory in the
/// thread's arena afterwards, so hashing spread over the blocking pool's up to 512 threads kept
/// hundreds of MiB (measured: 690 MiB after 1,000 concurrent logins). A fixed set of threads
/// keeps at most that many blocks.
fn on_hashing_thread<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> tokio::sync::oneshot::Receiver<T> {
    type Job = Box<dyn FnOnce() + Send>;
    static POOL: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::SyncSender<Job>>> =
        std::sync::OnceLock::new();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let pool = POOL.get_or_init(|| {
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(4096);
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        let threads = crate::limits::hashing_threads();
        for i in 0..threads {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    loop {
                        let next = queue.lock().ok().and_then(|q| q.recv().ok());
                        match next {
                            Some(job) => job(),
                            None => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("starting a password-hashing thread: {e}");
            }
        }
        std::sync::Mutex::new(jobs)
    });
    if let Ok(jobs) = pool.lock() {
        let _ = jobs.send(Box::new(move || {
            let _ = tx.send(job());
        }));
    }
    rx
}

thread_local! {
    /// This hashing thread's Argon2 working memory, kept from one hash to the next: allocating
    /// and freeing 19 MiB per hash left the allocator holding hundreds of MiB under load
    /// (measured, `benches/abuse.rs`).
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `argon` over `password` and `salt` into an output of `len` bytes, in this thread's
/// working memory.
fn argon2_output(
    argon: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    len: usize,
) -> Result<argon2::password_hash::Output, ApiError> {
    BLOCKS.with_borrow_mut(|blocks| {
        let need = params.block_count();
        if blocks.len() < need {
            blocks.resize(need, argon2::Block::default());
        }
        argon2::password_hash::Output::init_with(len, |out| {
            argon
                .hash_password_into_with_memory(password, salt, out, &mut blocks[..need])
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .map_err(|e| ApiError::Internal(format!("argon2: {e}")))
    })
}

/// Hashes a password with Argon2id on a hashing thread; the PHC string to store.
pub async fn hash_password(password: String, cost: PasswordCost) -> Result<String, ApiError> {
    on_hashing_thread(move || {
        let mut salt = [0_u8; 16];
        getrandom::fill(&mut salt).map_err(|e| ApiError::Internal(format!("getrandom: {e}")))?;
        let salt =
            SaltString::encode_b64(&salt).map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
        let argon = argon2(cost)?;
        let params = argon.params().clone();
        let mut raw_salt = [0_u8; 64];
        let raw_salt = salt
            .as_salt()
            .decode_b64(&mut raw_salt)
            .map_err(|e| ApiError::Internal(format!("salt: {e}")))?;
        let output = argon2_output(
            &argon,
            &params,
            password.as_bytes(),
            raw_salt,
            params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN),
        )?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: argon2::password_hash::ParamsString::try_from(&params)
                .map_err(|e| ApiError::Internal(format!("argon2 parameters: {e}")))?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(phc.to_string())
    })
    .await
    .map_err(|_| ApiError::Internal("the hashing thread stopped".to_owned()))?
}

/// Checks a password against a stored PHC hash on a hashing thread (the hash's own
/// parameters are used, so raising the cost later keeps old hashes valid).
pub async fn verify_password(password: String, stored: String) -> Result<bool, ApiError> {
    on_hashing_thread(move || {
        let unreadable = |what: &str| ApiError::Internal(format!("stored password hash: {what}"));
        let parsed = PasswordHash::new(&stored).map_err(|_| unreadable("not a PHC string"))?;
        let algorithm =
            Algorithm::try_from(parsed.algorithm).map_err(|_| unreadable("not Argon2"))?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|_| unreadable("version"))?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(|_| unreadable("parameters"))?;
        let expected = parsed.hash.ok_or_else(|| unreadable("no hash"))?;
        let mut raw_salt = [0_u8; 64];
        let raw_salt = parsed
            .salt
            .ok_or_else(|| unreadable("no salt"))?
            .decode_b64(&mut raw_salt)
            .map_err(|_| unreadable("salt"))?;
        let argon = Argon2::new(algorithm, version, params.clone());
        let computed = argon2_output(
            &argon,
            &params,
            password.as_bytes(),
            raw_salt,
            expected.len(),
        )?;
        // `Output`'s equality is constant-time.
        Ok(computed == expected)
    })
    .await
    .map_err(|_| ApiError::Internal("the hashing thread stopped".to_owned()))?
}

/// A new random session token (256 bits, hex) and the hash that is stored.
pub fn new_token() -> Result<(String, String), ApiError> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ApiError::Internal(format!("getrandom: {e}")))?;
    let token = bytes.iter().fold(String::with_capacity(64), |mut out, b| {
        use std::fmt::Write as _;
        let _ = write!(out, "{b:02x}");
        out
    });
    let hash = token_hash(&token);
    Ok((token, hash))
}

/// The stored form of a token: only its BLAKE3 hash, so a database leak yields no sessions.
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// What an email address may be, as the OpenAPI document states it (`pattern` and
/// `maxLength` 254): an ASCII local part of at most 64 characters, `@`, and a domain of at least
/// two labels of letters, digits and hyphens. [`normalize_email`] accepts exactly this.
pub const EMAIL_PATTERN: &str =
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+$";
pub const EMAIL_MAX_LEN: usize = 254;

fn email_shape_ok(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    let local_ok = (1..=64).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&b));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    email.len() <= EMAIL_MAX_LEN && local_ok && domain_ok
}

/// Checks an email address against [`EMAIL_PATTERN`] and lower-cases it (addresses are one
/// account whatever their case). Nothing is trimmed: clients send what the user meant.
pub fn normalize_email(email: &str) -> Result<String, ApiError> {
    if email_shape_ok(email) {
        Ok(email.to_ascii_lowercase())
    } else {
        Err(ApiError::invalid_field(
            "email",
            "not a valid email address",
        ))
    }
}

/// Characters a stored text may not hold (as the document's `pattern` says): C0 controls other
/// than tab and line breaks, and DEL. NUL in particular cannot be stored in PostgreSQL text.
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]*$";

/// Longest free text (a prompt, a text input) on the account route, in characters: far above
/// what any provider takes, and small enough that the largest valid request (three such texts,
/// each character escaped at worst) fits the default body limit.
pub const TEXT_MAX: usize = 5_000;

/// Checks free text of at most `max_chars` characters against [`TEXT_PATTERN`].
pub fn check_text(field: &str, text: &str, max_chars: usize) -> Result<(), ApiError> {
    if text
        .chars()
        .any(|c| matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'))
    {
        return Err(ApiError::invalid_field(
            field,
            "control characters are not allowed",
        ));
    }
    if text.chars().count() > max_chars {
        return Err(ApiError::invalid_field(
            field,
            &format!("at most {max_chars} characters"),
        ));
    }
    Ok(())
}

/// Whether two secrets (tokens, signatures) are equal, in time that depends only on their
/// lengths (`subtle`'s comparison; the XOR-fold it replaces was written four times).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    a.ct_eq(b).into()
}

/// Shortest password of a new account (OWASP ASVS 2.1.1 asks for 12).
pub const NEW_PASSWORD_MIN: usize = 12;
/// Shortest password signing in (accounts made before the minimum was raised keep working).
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 1024;

/// Checks a password given to sign in: 8–1024 characters.
pub fn check_password(password: &str) -> Result<(), ApiError> {
    check_password_len(password, PASSWORD_MIN)
}

/// Checks the password of a new account: 12–1024 characters (400), and not one an attacker
/// tries first (422 `weak_password`, see [`password_weakness`]). `email` is the account's.
pub fn check_new_password(password: &str, email: Option<&str>) -> Result<(), ApiError> {
    check_password_len(password, NEW_PASSWORD_MIN)?;
    match password_weakness(password, email) {
        Some(why) => Err(ApiError::WeakPassword(why)),
        None => Ok(()),
    }
}

/// Breached passwords of 12 or more characters, lower-cased (see the file's header).
const BREACHED: &str = include_str!("../data/breached-passwords.txt");

fn breached() -> &'static std::collections::HashSet<&'static str> {
    static SET: std::sync::OnceLock<std::collections::HashSet<&'static str>> =
        std::sync::OnceLock::new();
    SET.get_or_init(|| {
        BREACHED
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    })
}

/// Why a long-enough password is still one to refuse (NIST SP 800-63B 3.1.1.2): in a list of
/// breached passwords, one short unit repeated ("aaaaaaaaaaaa", "abcabcabcabc"), a run of
/// consecutive characters ("abcdefghijkl", "987654321098" is not one), or the account's own
/// email address with at most digits and punctuation added.
pub fn password_weakness(password: &str, email: Option<&str>) -> Option<&'static str> {
    let lower = password.to_lowercase();
    if breached().contains(lower.as_str()) {
        return Some("this password is in lists of breached passwords; choose another");
    }
    let chars: Vec<char> = lower.chars().collect();
    let repeats = (1..=4).any(|period| {
        chars.len() > period && chars.iter().skip(period).zip(&chars).all(|(a, b)| a == b)
    });
    if repeats {
        return Some("a few characters repeated over and over; choose another");
    }
    let steps: Vec<i64> = chars
        .windows(2)
        .map(|w| i64::from(u32::from(w[1])) - i64::from(u32::from(w[0])))
        .collect();
    if steps.first().is_some_and(|s| s.abs() == 1) && steps.windows(2).all(|w| w[0] == w[1]) {
        return Some("a run of consecutive characters; choose another");
    }
    if let Some(email) = email.map(str::to_lowercase) {
        let local = email.split('@').next().unwrap_or_default();
        let rest = |prefix: &str| {
            lower
                .strip_prefix(prefix)
                .is_some_and(|r| r.chars().all(|c| !c.is_alphabetic()))
        };
        if rest(&email) || (local.chars().count() >= 4 && rest(local)) {
            return Some("too close to your email address; choose another");
        }
    }
    None
}

fn check_password_len(password: &str, min: usize) -> Result<(), ApiError> {
    let n = password.chars().count();
    if n < min {
        return Err(ApiError::invalid_field(
            "password",
            &format!("at least {min} characters"),
        ));
    }
    if n > PASSWORD_MAX {
        return Err(ApiError::invalid_field(
            "password",
            "at most 1024 characters",
        ));
    }
    Ok(())
}

/// A user row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(clippy::struct_excessive_bools, reason = "the row's own flags")]
pub struct User {
    pub id: i64,
    pub email: String,
    pub is_admin: bool,
    pub balance: i64,
    pub data_sharing_opt_in: bool,
    pub data_sharing_opted_in_at: Option<i64>,
    /// The address was confirmed through a mailed link (or by an operator).
    pub email_verified: bool,
    /// Disabled by an admin: signing in and every session are refused.
    pub disabled: bool,
    /// Credits owed from refunded or disputed payments; new reservations wait until paid.
    pub debt: i64,
    /// Wants a mail when a job of over a minute finishes.
    pub notify_generation_finished: bool,
}

const USER_COLUMNS: &str = "id, email, is_admin, balance, data_sharing_opt_in, \
    data_sharing_opted_in_at, email_verified_at, disabled_at, deleted_at, debt, \
    notify_generation_finished";

fn user_from_row(row: &sqlx::any::AnyRow) -> Result<User, ApiError> {
    Ok(User {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        is_admin: row.try_get::<i64, _>("is_admin")? != 0,
        balance: row.try_get("balance")?,
        data_sharing_opt_in: row.try_get::<i64, _>("data_sharing_opt_in")? != 0,
        data_sharing_opted_in_at: row.try_get("data_sharing_opted_in_at")?,
        email_verified: row
            .try_get::<Option<i64>, _>("email_verified_at")?
            .is_some(),
        disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some()
            || row.try_get::<Option<i64>, _>("deleted_at")?.is_some(),
        debt: row.try_get("debt")?,
        notify_generation_finished: row.try_get::<i64, _>("notify_generation_finished")? != 0,
    })
}

/// Creates a user with a hashed password and gives the starter grant (if > 0) (admin
/// commands and tests: no daily budget).
pub async fn create_user(
    db: &Db,
    email: &str,
    password: &str,
    is_admin: bool,
    starter_grant: i64,
    cost: PasswordCost,
) -> Result<User, ApiError> {
    let email = normalize_email(email)?;
    check_new_password(password, Some(&email))?;
    let hash = hash_password(password.to_owned(), cost).await?;
    insert_user(
        db,
        &NewUser {
            email: &email,
            password_hash: &hash,
            is_admin,
            starter_grant,
            daily_budget: None,
            verified: true,
        },
    )
    .await
}

/// A user to insert: the email normalised, the password already hashed.
#[derive(Debug, Clone, Copy)]
pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub is_admin: bool,
    /// Credits given with the account (none when 0).
    pub starter_grant: i64,
    /// Credits all starter grants together may give per UTC day (`None`: no budget).
    pub daily_budget: Option<i64>,
    /// Made by an operator (verified at once, grant paid now); otherwise the grant waits for
    /// the address to be verified.
    pub verified: bool,
}

/// Inserts the user and pays the starter grant in one transaction: an account never exists
/// without the grant it was promised, and no grant is paid for an account that was not made.
/// Past the daily budget the account is made without credits (and the log says so).
pub async fn insert_user(db: &Db, new: &NewUser<'_>) -> Result<User, ApiError> {
    let mut tx = db.begin_write().await?;
    let id = insert_user_in(&mut tx, new).await?;
    tx.commit().await?;
    user_by_id(db, id).await
}

/// [`insert_user`] inside the caller's transaction; returns the new id. An unverified user's
/// grant is recorded as due and paid by [`crate::accounts::mark_verified_in`].
pub async fn insert_user_in(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    new: &NewUser<'_>,
) -> Result<i64, ApiError> {
    let now = now_ms();
    let inserted = sqlx::query_scalar::<_, i64>(
        "INSERT INTO users (email, password_hash, is_admin, balance, created_at, \
         email_verified_at, starter_grant_due) VALUES ($1, $2, $3, 0, $4, $5, $6) RETURNING id",
    )
    .bind(new.email)
    .bind(new.password_hash)
    .bind(i64::from(new.is_admin))
    .bind(now)
    .bind(new.verified.then_some(now))
    .bind(if new.verified {
        0
    } else {
        new.starter_grant.max(0)
    })
    .fetch_one(&mut **tx)
    .await;
    let id = match inserted {
        Ok(id) => id,
        Err(e) if is_unique_violation(&e) => return Err(ApiError::EmailTaken),
        Err(e) => return Err(e.into()),
    };
    if new.verified && new.starter_grant > 0 {
        let within = match new.daily_budget {
            Some(budget) => {
                crate::limits::take_from_daily_budget(tx, budget, new.starter_grant).await?
            }
            None => true,
        };
        if within {
            ledger::grant_in(
                tx,
                id,
                new.starter_grant,
                "starter grant",
                Some("starter-grant"),
            )
            .await?;
        } else {
            tracing::warn!(
                "today's starter-grant budget is spent: account {id} made without credits"
            );
        }
    }
    Ok(id)
}

/// Looks a user up by id.
pub async fn user_by_id(db: &Db, id: i64) -> Result<User, ApiError> {
    let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(&db.pool)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    user_from_row(&row)
}

/// Looks a user up by (normalised) email.
pub async fn user_by_email(db: &Db, email: &str) -> Result<Option<User>, ApiError> {
    let Ok(email) = normalize_email(email) else {
        return Ok(None);
    };
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
    ))
    .bind(email)
    .fetch_optional(&db.pool)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Sets or clears the admin role.
pub async fn set_admin(db: &Db, user_id: i64, is_admin: bool) -> Result<(), ApiError> {
    sqlx::query("UPDATE users SET is_admin = $1 WHERE id = $2")
        .bind(i64::from(is_admin))
        .bind(user_id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Checks email and password; `None` when either is wrong (the same answer for both, and
/// about the same time: an unknown email still costs one Argon2 hash of `cost`).
pub async fn authenticate(
    db: &Db,
    email: &str,
    password: &str,
    cost: PasswordCost,
) -> Result<Option<User>, ApiError> {
    let Ok(email) = normalize_email(email) else {
        hash_password(password.to_owned(), cost).await?;
        return Ok(None);
    };
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password_hash FROM users WHERE email = $1")
            .bind(&email)
            .fetch_optional(&db.pool)
            .await?;
    let Some((id, stored)) = row else {
        hash_password(password.to_owned(), cost).await?;
        return Ok(None);
    };
    if verify_password(password.to_owned(), stored).await? {
        let user = user_by_id(db, id).await?;
        if user.disabled {
            return Err(ApiError::AccountDisabled);
        }
        Ok(Some(user))
    } else {
        Ok(None)
    }
}

/// Starts a session; returns the token (shown once) and its expiry.
pub async fn create_session(
    db: &Db,
    user_id: i64,
    ttl: Duration,
) -> Result<(String, i64), ApiError> {
    let (token, hash) = new_token()?;
    let now = now_ms();
    let expires_at = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2));
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, last_seen_at) \
         VALUES ($1, $2, $3, $4, $3)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(now)
    .bind(expires_at)
    .execute(db.writer())
    .await?;
    record_active_day(db, user_id).await?;
    Ok((token, expires_at))
}

/// A session unused for this long ends, whatever its expiry.
pub const SESSION_IDLE: Duration = Duration::from_secs(14 * 24 * 3600);
/// How stale `last_seen_at` may get before a request writes it again (one write per session
/// per this time, not one per request).
const LAST_SEEN_EVERY_MS: i64 = 10 * 60 * 1000;

/// The user of a live session token: not expired and used within [`SESSION_IDLE`].
pub async fn session_user(db: &Db, token: &str) -> Result<Option<User>, ApiError> {
    let now = now_ms();
    let idle = i64::try_from(SESSION_IDLE.as_millis()).unwrap_or(i64::MAX / 2);
    let hash = token_hash(token);
    let found: Option<(i64, i64)> = sqlx::query_as(
        "SELECT user_id, last_seen_at FROM sessions \
         WHERE token_hash = $1 AND expires_at > $2 AND last_seen_at > $3",
    )
    .bind(&hash)
    .bind(now)
    .bind(now - idle)
    .fetch_optional(&db.pool)
    .await?;
    let Some((id, last_seen)) = found else {
        return Ok(None);
    };
    if now - last_seen > LAST_SEEN_EVERY_MS {
        sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
            .bind(now)
            .bind(&hash)
            .execute(db.writer())
            .await?;
        record_active_day(db, id).await?;
    }
    let user = user_by_id(db, id).await?;
    if user.disabled {
        return Err(ApiError::AccountDisabled);
    }
    Ok(Some(user))
}

/// Counts the user as active today (daily active users on the dashboard).
pub async fn record_active_day(db: &Db, user_id: i64) -> Result<(), ApiError> {
    sqlx::query("INSERT INTO user_days (day, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(now_ms() / 86_400_000)
        .bind(user_id)
        .execute(db.writer())
        .await?;
    Ok(())
}

/// Ends a session; true if it existed.
pub async fn delete_session(db: &Db, token: &str) -> Result<bool, ApiError> {
    let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
        .bind(token_hash(token))
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Deletes sessions past their expiry; returns how many.
pub async fn purge_expired_sessions(db: &Db) -> Result<u64, ApiError> {
    let idle = i64::try_from(SESSION_IDLE.as_millis()).unwrap_or(i64::MAX / 2);
    let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
        .bind(now_ms())
        .bind(now_ms() - idle)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}

/// Limits of the login rate limiter.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Attempts per email that pass at once; after them each attempt waits a growing delay.
    pub per_email: u32,
    /// Attempts per client address (IPv6: per /64) within `window` (successful ones are
    /// taken back).
    pub per_ip: u32,
    pub window: Duration,
    /// The first delay per email, doubled at each further failure up to `delay_cap`.
    pub delay_base: Duration,
    pub delay_cap: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_email: 5,
            per_ip: 30,
            window: Duration::from_secs(15 * 60),
            delay_base: Duration::from_secs(1),
            delay_cap: Duration::from_secs(60),
        }
    }
}

/// Login attempts counted in the database (every instance sharing it sees the same counts,
/// so spreading attempts over instances gains nothing), *before* the password is checked, so
/// parallel guesses cannot all pass a check made before any failure was counted. Per email:
/// growing delays, never a lock, so nobody can keep an owner out for longer than the cap.
/// Per client address: a window. Keys are stored hashed (the email typed may be anything).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    limits: LoginLimits,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        Self { limits }
    }

    fn email_key(email: &str) -> String {
        token_hash(&format!("login-email:{}", email.trim().to_lowercase()))
    }

    fn ip_key(ip: IpAddr) -> String {
        token_hash(&format!("login-ip:{}", crate::limits::address_key(ip)))
    }

    /// Counts one attempt; fails with [`ApiError::RateLimited`] (and `Retry-After`) while
    /// the address is over its limit or the email inside its delay.
    pub async fn attempt(&self, db: &Db, email: &str, ip: Option<IpAddr>) -> Result<(), ApiError> {
        if let Some(ip) = ip {
            crate::limits::hit_window(
                db,
                &Self::ip_key(ip),
                self.limits.per_ip,
                self.limits.window,
            )
            .await?;
        }
        crate::limits::hit_delay(
            db,
            &Self::email_key(email),
            crate::limits::Delays {
                free: self.limits.per_email,
                base: self.limits.delay_base,
                cap: self.limits.delay_cap,
                quiet: self.limits.window,
            },
        )
        .await
    }

    /// The owner signed in: the email's delays end and the address's attempt is taken back.
    pub async fn succeeded(
        &self,
        db: &Db,
        email: &str,
        ip: Option<IpAddr>,
    ) -> Result<(), ApiError> {
        crate::limits::forget(db, &Self::email_key(email)).await?;
        if let Some(ip) = ip {
            crate::limits::unhit(db, &Self::ip_key(ip)).await?;
        }
        Ok(())
    }

    /// Drops counts nobody touched for a day.
    pub async fn purge(&self, db: &Db) -> Result<u64, ApiError> {
        crate::limits::purge(db, self.limits.window.max(Duration::from_secs(86_400))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("Ada@Example.COM").expect("valid"),
            "ada@example.com"
        );
        for good in ["a@b.co", "first.last+tag@sub.example.org", "x_y-z@a-b.c"] {
            assert!(normalize_email(good).is_ok(), "{good:?} refused");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        for bad in [
            "",
            "a",
            "a@b",
            "@b.c",
            "a@@b.c",
            "a b@c.d",
            "a@.c",
            "a@c.",
            " a@b.co",
            "a@b.co\n",
            "a\u{0}@b.co",
            "é@b.co",
            "a@b..co",
            &long_local,
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[tokio::test]
    async fn hashes_are_standard_phc_strings_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let cost = PasswordCost {
            memory_kib: 1024,
            passes: 1,
        };
        let ours = hash_password("correct horse battery".into(), cost)
            .await
            .expect("hash");
        assert!(ours.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{ours}");
        // The argon2 crate's own verifier accepts it…
        let parsed = PasswordHash::new(&ours).expect("phc");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse battery", &parsed)
                .is_ok()
        );
        // …and ours accepts the crate's hashes (of any cost) and refuses wrong passwords.
        let salt = SaltString::encode_b64(b"sixteen byte slt").expect("salt");
        let theirs = argon2(PasswordCost {
            memory_kib: 2048,
            passes: 2,
        })
        .expect("argon2")
        .hash_password(b"another password", &salt)
        .expect("hash")
        .to_string();
        assert!(
            verify_password("another password".into(), theirs.clone())
                .await
                .expect("verify")
        );
        assert!(
            !verify_password("another passwore".into(), theirs)
                .await
                .expect("verify")
        );
        assert!(
            !verify_password("correct horse batterY".into(), ours.clone())
                .await
                .expect("verify")
        );
        assert!(
            verify_password("correct horse battery".into(), ours)
                .await
                .expect("verify")
        );
        assert!(
            verify_password("x".into(), "not a hash".into())
                .await
                .is_err()
        );
    }

    #[test]
    fn tokens_are_random_and_only_hashes_are_kept() {
        let (a, ha) = new_token().expect("token");
        let (b, _) = new_token().expect("token");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(token_hash(&a), ha);
        assert_ne!(ha, a);
    }

    #[tokio::test]
    async fn limiter_counts_per_email_and_per_address_across_instances() {
        let db = Db::connect("sqlite::memory:").await.expect("db");
        db.migrate().await.expect("migrate");
        let limits = LoginLimits {
            per_email: 2,
            per_ip: 3,
            window: Duration::from_secs(60),
            delay_base: Duration::from_secs(30),
            delay_cap: Duration::from_secs(60),
        };
        // Two limiters over one database: two server instances.
        let (one, two) = (LoginLimiter::new(limits), LoginLimiter::new(limits));
        let ip: Option<IpAddr> = "10.0.0.1".parse().ok();
        one.attempt(&db, "a@x.io", ip).await.expect("1st");
        two.attempt(&db, "A@x.io", None)
            .await
            .expect("2nd, starts the delay");
        assert!(matches!(
            one.attempt(&db, "a@x.io", None).await,
            Err(ApiError::RateLimited { retry_after_secs }) if (1..=30).contains(&retry_after_secs)
        ));
        one.attempt(&db, "b@x.io", ip).await.expect("other email");
        // Three attempts from 10.0.0.1 were counted (one with "a", one with "b"… and the
        // refused one did not reach the address counter: it had no address).
        two.attempt(&db, "c@x.io", ip)
            .await
            .expect("3rd from the address");
        assert!(
            two.attempt(&db, "d@x.io", ip).await.is_err(),
            "address limit of 3 reached"
        );
        one.succeeded(&db, "c@x.io", ip).await.expect("owner");
        two.attempt(&db, "e@x.io", ip)
            .await
            .expect("a success is taken back");
        one.succeeded(&db, "a@x.io", None).await.expect("forget");
        two.attempt(&db, "a@x.io", None)
            .await
            .expect("delay over after success");
        // Stored keys are hashes, never the typed email or the address.
        let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM rate_counters")
            .fetch_all(&db.pool)
            .await
            .expect("keys");
        assert!(
            keys.iter()
                .all(|k| k.len() == 64 && !k.contains('@') && !k.contains("10.0"))
        );
    }
}
