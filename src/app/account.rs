//! The account window (PRODUCT.md §4.5): sign up, sign in and out (the session token kept in
//! the OS keychain, or a private file where there is none, and the app says which), the credit
//! balance, and training-data sharing: the toggle with its 10 % membership discount, what is
//! shared, when the user opted in, and "Delete my shared data". The window only draws and
//! returns [`AccountRequest`]s; the app's command handler starts each as a background
//! [`Task`] on its runtime, so the window never waits on the network and never spawns work.

use super::task::{Spawner, Task, drain_ready};

use aktion_account::secrets::{ACCOUNT_TOKEN, SecretStore};
use aktion_account::{AccountClient, AccountError};
use aktion_api::Me;
use aktion_engine::AccountSession;

/// The fields of a shared record, as §5.3 lists them (shown under "What data is shared?").
pub const SHARED_FIELDS: &[&str] = &[
    "the generated output (image or video), in private storage under your account",
    "its type (image, video or audio) and the node kind (character, scene, sketch, …)",
    "the prompt",
    "the settings (creativity, strength, seed, …)",
    "the character references used",
    "the input images or data",
    "how long the generation took",
    "your 1–5 rating, if you give one",
];

/// What the window asks for (carried out by the app's command handler through
/// [`AccountUi::start`]).
#[derive(Debug, Clone, PartialEq)]
pub enum AccountRequest {
    SignIn {
        email: String,
        password: String,
        /// Create the account first.
        create: bool,
    },
    SetSharing(bool),
    DeleteSharedData,
    SignOut,
    Refresh,
    /// Mail the verification link again.
    ResendVerification,
    /// Mail a password-reset link to this address.
    ForgotPassword(String),
    ChangePassword {
        current: String,
        new: String,
    },
    /// End every session of the account, this one too.
    SignOutEverywhere,
    /// Delete the account (confirmed in the window, with the password).
    DeleteAccount(String),
    /// A mail when a job of over a minute finishes.
    SetGenerationMails(bool),
    /// Send this problem report (the user saw it first).
    SendReport(aktion_api::ProblemReport),
    /// Send the rating of an account-route take to its generation.
    Rate {
        generation: String,
        rating: u8,
    },
    /// Rate a result shared from another route (by its output's hash).
    RateShared {
        output_hash: String,
        rating: u8,
    },
    /// Share a new result (the user is opted in): its file from the cache, then its record.
    Share {
        submission: Box<aktion_api::TrainingDataSubmission>,
        file: std::path::PathBuf,
        mime: String,
    },
    /// Membership, packs and purchases.
    LoadBilling,
    /// Open Stripe Checkout for `"membership"` or a pack's item in the browser.
    Checkout(String),
    /// Open the Stripe Customer Portal in the browser.
    BillingPortal,
}

/// What a background call answered.
pub enum Reply {
    SignedIn {
        client: AccountClient,
        me: Me,
    },
    Me(Me),
    /// The server's prices per kind (`GET /v1/pricing`).
    Prices(std::collections::BTreeMap<String, u32>),
    SignedOut,
    Sharing(Me),
    Deleted(u64),
    /// Something to tell the user, then the account as it is now (when known).
    Told(String, Option<Me>),
    /// The session ended on the server (sign out everywhere, account deleted).
    Ended(String),
    /// Done; nothing to show.
    Quiet,
    Billing(aktion_api::BillingStatus),
    /// Billing is not offered (or failed): why.
    NoBilling(String),
    /// A Stripe page, opened in the browser (or why not).
    Opened(String, Result<(), String>),
    Failed(String),
}

/// Opens a URL in the browser, or says why not.
pub type Opener = std::sync::Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// State of the account window and of the session.
pub struct AccountUi {
    pub open: bool,
    pub server: String,
    pub email: String,
    pub password: String,
    /// Change password: the current and the new one.
    pub current_password: String,
    pub new_password: String,
    /// Delete account: the password and the confirmation box.
    pub delete_password: String,
    pub delete_confirmed: bool,
    pub me: Option<Me>,
    /// The last thing to tell the user (an error, where the token is kept, ...).
    pub notice: Option<String>,
    /// Whether `notice` is an error (drawn in the error colour, not as a quiet note).
    pub notice_kind: NoticeKind,
    /// Calls under way.
    pending: Vec<Task<Reply>>,
    /// Offline: the last call could not reach the server.
    pub offline: bool,
    /// Credits per kind as the server prices them (empty until known: the catalog's apply).
    pub prices: std::collections::BTreeMap<String, u32>,
    /// Bumped when `prices` change.
    pub prices_rev: u64,
    /// Membership, packs and purchases, when the server bills.
    pub billing: Option<aktion_api::BillingStatus>,
    /// Why there is no billing here (not set up, offline).
    pub billing_note: Option<String>,
    /// A checkout is open in the browser: the balance and membership are polled until the
    /// webhook lands (until when, and what they were).
    awaiting_payment: Option<(std::time::Instant, i64, Option<String>)>,
    last_poll: Option<std::time::Instant>,
    /// Opens a URL in the browser (tests record it instead).
    pub open_url: Opener,
    /// The last page opened in the browser.
    pub opened: Option<String>,
    /// A problem report shown for confirmation before it is sent.
    pub report: Option<aktion_api::ProblemReport>,
    session: AccountSession,
    secrets: Option<SecretStore>,
}

/// What the window's last notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// Where the token is kept, a payment that landed, …: said quietly.
    News,
    /// A refusal or a failure: said in the error colour.
    Error,
}

impl AccountUi {
    /// Tells the user something; `error` draws it in the error colour.
    fn set_notice(&mut self, error: bool, text: String) {
        self.notice = Some(text);
        self.notice_kind = if error {
            NoticeKind::Error
        } else {
            NoticeKind::News
        };
    }

    pub fn new(session: AccountSession, secrets: Option<SecretStore>, server: String) -> Self {
        Self {
            open: false,
            server,
            email: String::new(),
            password: String::new(),
            current_password: String::new(),
            new_password: String::new(),
            delete_password: String::new(),
            delete_confirmed: false,
            me: None,
            notice: None,
            notice_kind: NoticeKind::News,
            pending: Vec::new(),
            offline: false,
            prices: std::collections::BTreeMap::new(),
            prices_rev: 0,
            billing: None,
            billing_note: None,
            awaiting_payment: None,
            last_poll: None,
            open_url: std::sync::Arc::new(open_in_browser),
            opened: None,
            report: None,
            session,
            secrets,
        }
    }

    /// Keeps the session token in `store` instead (tests use a private file).
    pub fn set_secrets(&mut self, store: Option<SecretStore>) {
        self.secrets = store;
    }

    fn client(&self) -> Option<AccountClient> {
        self.session.read().ok().and_then(|c| c.clone())
    }

    pub fn signed_in(&self) -> bool {
        self.client().is_some_and(|c| c.is_signed_in())
    }

    /// The balance line of the toolbar.
    pub fn balance_label(&self) -> String {
        match (&self.me, self.signed_in(), self.offline) {
            (Some(me), _, false) => format!("{} credits", me.balance),
            (Some(me), _, true) => format!("{} credits (offline)", me.balance),
            (None, true, true) => "account offline".to_owned(),
            (None, true, false) => "account…".to_owned(),
            (None, false, _) => "Sign in".to_owned(),
        }
    }

    /// Whether a call is under way.
    pub fn busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Starts what the window asked for, in the background.
    pub fn start(&mut self, request: AccountRequest, spawner: &Spawner) {
        let client = self.client();
        let request = match self.lifecycle(request, client.clone(), spawner) {
            Ok(Some(task)) => {
                self.pending.push(task);
                return;
            }
            Ok(None) => return,
            Err(other) => other,
        };
        let task = match request {
            AccountRequest::Refresh => {
                let Some(client) = client.filter(AccountClient::is_signed_in) else {
                    return;
                };
                let prices = client.clone();
                self.pending.push(spawner.spawn(async move {
                    match prices.pricing().await {
                        Ok(p) => Reply::Prices(
                            p.items
                                .into_iter()
                                .map(|i| (i.node_kind, u32::try_from(i.credits).unwrap_or(0)))
                                .collect(),
                        ),
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                }));
                spawner.spawn(async move {
                    match client.me().await {
                        Ok(me) => Reply::Me(me),
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            AccountRequest::SignIn {
                email,
                password,
                create,
            } => {
                // The last attempt's error goes; this attempt's answer replaces it.
                self.notice = None;
                let client = match AccountClient::new(&self.server, None) {
                    Ok(c) => c,
                    Err(e) => {
                        self.set_notice(true, e.to_string());
                        return;
                    }
                };
                spawner.spawn(async move {
                    let session = if create {
                        client.register(&email, &password).await
                    } else {
                        client.login(&email, &password).await
                    };
                    match session {
                        Ok(s) => Reply::SignedIn {
                            client: client.with_token(Some(s.token)),
                            me: s.user,
                        },
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            AccountRequest::SetSharing(opt_in) => {
                let Some(c) = client else { return };
                spawner.spawn(async move {
                    match c.set_data_sharing(opt_in).await {
                        Ok(_) => match c.me().await {
                            Ok(me) => Reply::Sharing(me),
                            Err(e) => Reply::Failed(describe(&e)),
                        },
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            AccountRequest::DeleteSharedData => {
                let Some(c) = client else { return };
                spawner.spawn(async move {
                    match c.delete_shared_data().await {
                        Ok(d) => Reply::Deleted(d.deleted),
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            AccountRequest::SignOut => {
                let Some(c) = client else { return };
                spawner.spawn(async move {
                    // Ending the session on the server is best effort; offline, it just
                    // expires.
                    let _ = c.logout().await;
                    Reply::SignedOut
                })
            }
            // Taken by `lifecycle`.
            _ => return,
        };
        self.pending.push(task);
    }

    /// The account-lifecycle requests (verification, passwords, sign out everywhere, delete,
    /// mail preferences): `Ok` with the started call (or nothing to start), `Err` with any
    /// other request.
    fn lifecycle(
        &mut self,
        request: AccountRequest,
        client: Option<AccountClient>,
        spawner: &Spawner,
    ) -> Result<Option<Task<Reply>>, AccountRequest> {
        let task = match request {
            AccountRequest::ResendVerification => {
                let Some(c) = client else { return Ok(None) };
                spawner.spawn(async move {
                    match c.resend_verification().await {
                        Ok(done) => Reply::Told(done.message, None),
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            AccountRequest::ForgotPassword(email) => {
                let client = match AccountClient::new(&self.server, None) {
                    Ok(c) => c,
                    Err(e) => {
                        self.set_notice(true, e.to_string());
                        return Ok(None);
                    }
                };
                spawner.spawn(async move {
                    match client.request_password_reset(&email).await {
                        Ok(done) => Reply::Told(done.message, None),
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            AccountRequest::ChangePassword { current, new } => {
                let Some(c) = client else { return Ok(None) };
                spawner.spawn(async move {
                    match c.change_password(&current, &new).await {
                        Ok(ended) => Reply::Told(
                            format!(
                                "password changed; {} other session(s) signed out",
                                ended.sessions_ended
                            ),
                            None,
                        ),
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            AccountRequest::SignOutEverywhere => {
                let Some(c) = client else { return Ok(None) };
                spawner.spawn(async move {
                    match c.logout_all().await {
                        Ok(ended) => Reply::Ended(format!(
                            "signed out everywhere ({} session(s))",
                            ended.sessions_ended
                        )),
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            AccountRequest::DeleteAccount(password) => {
                let Some(c) = client else { return Ok(None) };
                spawner.spawn(async move {
                    match c.delete_account(&password).await {
                        Ok(done) => Reply::Ended(done.message),
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            AccountRequest::SetGenerationMails(on) => {
                let Some(c) = client else { return Ok(None) };
                spawner.spawn(async move {
                    match c.set_generation_mails(on).await {
                        Ok(_) => match c.me().await {
                            Ok(me) => Reply::Me(me),
                            Err(e) => Reply::Failed(describe(&e)),
                        },
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            other => return self.billing_task(other, client, spawner),
        };
        Ok(Some(task))
    }

    /// The billing requests (like [`Self::lifecycle`]).
    fn billing_task(
        &mut self,
        request: AccountRequest,
        client: Option<AccountClient>,
        spawner: &Spawner,
    ) -> Result<Option<Task<Reply>>, AccountRequest> {
        let task = match request {
            AccountRequest::LoadBilling => {
                let Some(c) = client else { return Ok(None) };
                spawner.spawn(async move {
                    match c.billing().await {
                        Ok(b) => Reply::Billing(b),
                        Err(e) => Reply::NoBilling(describe(&e)),
                    }
                })
            }
            AccountRequest::Checkout(item) => {
                let Some(c) = client else { return Ok(None) };
                let open = self.open_url.clone();
                spawner.spawn(async move {
                    match c.checkout(&item).await {
                        Ok(page) => {
                            let opened = open(&page.url);
                            Reply::Opened(page.url, opened)
                        }
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            AccountRequest::BillingPortal => {
                let Some(c) = client else { return Ok(None) };
                let open = self.open_url.clone();
                spawner.spawn(async move {
                    match c.billing_portal().await {
                        Ok(page) => {
                            let opened = open(&page.url);
                            Reply::Opened(page.url, opened)
                        }
                        Err(e) => Reply::Failed(describe(&e)),
                    }
                })
            }
            other => return self.feedback_task(other, client, spawner),
        };
        Ok(Some(task))
    }

    /// Reports, ratings and sharing (like [`Self::lifecycle`]).
    fn feedback_task(
        &mut self,
        request: AccountRequest,
        client: Option<AccountClient>,
        spawner: &Spawner,
    ) -> Result<Option<Task<Reply>>, AccountRequest> {
        let task = match request {
            AccountRequest::SendReport(report) => {
                // Signed in or not: an anonymous report is fine.
                let client = match client {
                    Some(c) => c,
                    None => match AccountClient::new(&self.server, None) {
                        Ok(c) => c,
                        Err(e) => {
                            self.set_notice(true, e.to_string());
                            return Ok(None);
                        }
                    },
                };
                spawner.spawn(async move {
                    match client.report_problem(&report).await {
                        Ok(stored) => Reply::Told(
                            format!("problem report #{} sent; thank you", stored.id),
                            None,
                        ),
                        Err(e) => {
                            Reply::Failed(format!("the report was not sent: {}", describe(&e)))
                        }
                    }
                })
            }
            AccountRequest::Rate { generation, rating } => {
                let Some(c) = client else { return Ok(None) };
                spawner.spawn(async move {
                    match c.rate_generation(&generation, rating).await {
                        Ok(_) => Reply::Told(format!("rated {rating} of 5; thank you"), None),
                        Err(e) => Reply::Failed(format!(
                            "the rating was kept here but not sent: {}",
                            describe(&e)
                        )),
                    }
                })
            }
            AccountRequest::RateShared {
                output_hash,
                rating,
            } => {
                let Some(c) = client else { return Ok(None) };
                spawner.spawn(async move {
                    match c.rate_shared(&output_hash, rating).await {
                        Ok(r) if r.rated > 0 => {
                            Reply::Told(format!("rated {rating} of 5; thank you"), None)
                        }
                        // Not shared (made before opting in): kept in the project only.
                        Ok(_) => Reply::Quiet,
                        Err(e) => Reply::Failed(format!(
                            "the rating was kept here but not sent: {}",
                            describe(&e)
                        )),
                    }
                })
            }
            AccountRequest::Share {
                submission,
                file,
                mime,
            } => {
                let Some(c) = client else { return Ok(None) };
                spawner.spawn(async move {
                    let shared = async {
                        let bytes = tokio::fs::read(&file)
                            .await
                            .map_err(|e| format!("reading the result: {e}"))?;
                        c.put_blob(bytes, &mime).await.map_err(|e| describe(&e))?;
                        c.share_training_data(&submission)
                            .await
                            .map_err(|e| describe(&e))
                    };
                    match shared.await {
                        // Shared, or skipped by the server (not opted in there): nothing to say.
                        Ok(_) => Reply::Quiet,
                        Err(e) => Reply::Failed(format!("sharing a result failed: {e}")),
                    }
                })
            }
            other => return Err(other),
        };
        Ok(Some(task))
    }

    /// Applies answers that came back.
    pub fn poll(&mut self) {
        for reply in drain_ready(&mut self.pending) {
            match reply {
                Reply::SignedIn { client, me } => {
                    let token_kept = match (&self.secrets, client.token()) {
                        (Some(store), Some(token)) => match store.set(ACCOUNT_TOKEN, token) {
                            Ok(kept) => format!("signed in; your session is kept in {kept}"),
                            Err(e) => format!("signed in for this session only ({e})"),
                        },
                        _ => "signed in for this session only".to_owned(),
                    };
                    if let Ok(mut s) = self.session.write() {
                        *s = Some(client);
                    }
                    self.password.clear();
                    self.me = Some(me);
                    self.offline = false;
                    self.set_notice(false, token_kept);
                }
                Reply::Prices(prices) => {
                    if prices != self.prices {
                        self.prices = prices;
                        self.prices_rev += 1;
                    }
                }
                Reply::Me(me) | Reply::Sharing(me) => {
                    if let Some((_, before, _)) = self.awaiting_payment
                        && me.balance != before
                    {
                        self.awaiting_payment = None;
                        self.set_notice(
                            false,
                            format!("payment received: {} credits now", me.balance),
                        );
                    }
                    self.me = Some(me);
                    self.offline = false;
                }
                reply @ (Reply::Billing(_) | Reply::NoBilling(_) | Reply::Opened(..)) => {
                    self.apply_billing(reply);
                }
                Reply::Told(message, me) => {
                    self.set_notice(false, message);
                    self.current_password.clear();
                    self.new_password.clear();
                    if let Some(me) = me {
                        self.me = Some(me);
                    }
                }
                Reply::Quiet => {}
                Reply::Ended(message) => {
                    self.forget_session();
                    self.delete_password.clear();
                    self.delete_confirmed = false;
                    self.set_notice(false, message);
                }
                Reply::SignedOut => {
                    if let Some(store) = &self.secrets
                        && let Err(e) = store.delete(ACCOUNT_TOKEN)
                    {
                        self.set_notice(true, format!("signed out, but {e}"));
                    } else {
                        self.set_notice(false, "signed out".to_owned());
                    }
                    if let Ok(mut s) = self.session.write() {
                        *s = s.take().map(|c| c.with_token(None));
                    }
                    self.me = None;
                }
                Reply::Deleted(n) => {
                    self.set_notice(
                        false,
                        format!("deleted {n} shared record(s) and their files"),
                    );
                }
                Reply::Failed(message) => {
                    self.offline = message.starts_with("offline");
                    self.set_notice(true, message);
                }
            }
        }
    }

    /// The report's confirmation: exactly what is sent, as sent.
    fn report_ui(&mut self, ctx: &egui::Context, asked: &mut Vec<AccountRequest>) {
        let Some(report) = self.report.clone() else {
            return;
        };
        let mut open = true;
        let mut decided = false;
        egui::Window::new("Report a problem")
            .collapsible(false)
            .default_width(460.0)
            .open(&mut open)
            .show(ctx, |ui| {
                ui.label(format!(
                    "This is everything that is sent to {} — no keys, no files, no prompts:",
                    self.server
                ));
                let mut text = serde_json::to_string_pretty(&report).unwrap_or_default();
                egui::ScrollArea::vertical()
                    .max_height(260.0)
                    .show(ui, |ui| {
                        ui.add(
                            egui::TextEdit::multiline(&mut text)
                                .code_editor()
                                .interactive(false)
                                .desired_width(f32::INFINITY),
                        );
                    });
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(!self.busy(), egui::Button::new("Send report"))
                        .clicked()
                    {
                        asked.push(AccountRequest::SendReport(report.clone()));
                        decided = true;
                    }
                    if ui.button("Don't send").clicked() {
                        decided = true;
                    }
                });
            });
        if decided || !open {
            self.report = None;
        }
    }

    /// While a checkout is open in the browser: asks for the balance and membership every
    /// three seconds (the webhook lands on the server, not here), for at most 15 minutes.
    fn poll_payment(&mut self, ctx: &egui::Context, asked: &mut Vec<AccountRequest>) {
        let Some((until, _, _)) = self.awaiting_payment else {
            return;
        };
        let now = std::time::Instant::now();
        if now > until {
            self.awaiting_payment = None;
            return;
        }
        let every = std::time::Duration::from_secs(3);
        if !self.busy()
            && self
                .last_poll
                .is_none_or(|t| now.duration_since(t) >= every)
        {
            self.last_poll = Some(now);
            asked.push(AccountRequest::Refresh);
            asked.push(AccountRequest::LoadBilling);
        }
        ctx.request_repaint_after(every);
    }

    /// Whether a checkout is open and its payment not seen yet.
    pub fn awaiting_payment(&self) -> bool {
        self.awaiting_payment.is_some()
    }

    /// Applies a billing answer.
    fn apply_billing(&mut self, reply: Reply) {
        match reply {
            Reply::Billing(b) => {
                if let Some((_, _, membership)) = &self.awaiting_payment
                    && b.membership.as_ref().map(|m| m.status.clone()) != *membership
                {
                    self.awaiting_payment = None;
                    self.set_notice(false, "payment received: your membership is active".into());
                }
                self.billing = Some(b);
                self.billing_note = None;
            }
            Reply::NoBilling(why) => {
                self.billing = None;
                self.billing_note = Some(why);
            }
            Reply::Opened(url, opened) => {
                match opened {
                    Ok(()) => {
                        self.set_notice(
                            false,
                            "the payment page is open in your browser; your balance \
                         updates here when the payment lands"
                                .to_owned(),
                        );
                    }
                    Err(e) => self.set_notice(true, format!("open {url} in a browser ({e})")),
                }
                self.opened = Some(url);
                let balance = self.me.as_ref().map_or(0, |m| m.balance);
                let membership = self
                    .billing
                    .as_ref()
                    .and_then(|b| b.membership.as_ref().map(|m| m.status.clone()));
                self.awaiting_payment = Some((
                    std::time::Instant::now() + std::time::Duration::from_secs(15 * 60),
                    balance,
                    membership,
                ));
            }
            _ => {}
        }
    }

    /// Drops the session here: the token leaves the store and the window asks to sign in.
    fn forget_session(&mut self) {
        if let Some(store) = &self.secrets {
            let _ = store.delete(ACCOUNT_TOKEN);
        }
        if let Ok(mut s) = self.session.write() {
            *s = s.take().map(|c| c.with_token(None));
        }
        self.me = None;
    }

    /// Draws the window; returns what the user asked for.
    pub fn ui(&mut self, ctx: &egui::Context) -> Vec<AccountRequest> {
        let mut asked = Vec::new();
        self.report_ui(ctx, &mut asked);
        if !self.open {
            return asked;
        }
        self.poll_payment(ctx, &mut asked);
        let mut open = true;
        egui::Window::new("Account")
            .collapsible(false)
            .default_width(420.0)
            .open(&mut open)
            .show(ctx, |ui| {
                if self.signed_in() {
                    self.signed_in_ui(ui, &mut asked);
                } else {
                    self.sign_in_ui(ui, &mut asked);
                }
                if self.busy() {
                    // Text, not a spinner. The answer wakes the window when it comes; under
                    // Xvfb that wake-up was seen lost once after a refused sign-up (the window
                    // said "talking to the server…" until the mouse moved), so while a call is
                    // under way the window also looks again five times a second.
                    ui.label(egui::RichText::new("talking to the server…").weak());
                    ui.ctx()
                        .request_repaint_after(std::time::Duration::from_millis(200));
                }
                if let Some(n) = &self.notice {
                    if self.notice_kind == NoticeKind::Error {
                        ui.colored_label(ui.visuals().error_fg_color, n);
                    } else {
                        ui.label(egui::RichText::new(n).weak());
                    }
                }
            });
        self.open = open;
        asked
    }

    fn sign_in_ui(&mut self, ui: &mut egui::Ui, asked: &mut Vec<AccountRequest>) {
        egui::Grid::new("sign-in").num_columns(2).show(ui, |ui| {
            let l = ui.label("Server").id;
            ui.add(egui::TextEdit::singleline(&mut self.server).desired_width(260.0))
                .labelled_by(l);
            ui.end_row();
            let l = ui.label("Email").id;
            ui.add(egui::TextEdit::singleline(&mut self.email).desired_width(260.0))
                .labelled_by(l);
            ui.end_row();
            let l = ui.label("Password").id;
            ui.add(
                egui::TextEdit::singleline(&mut self.password)
                    .password(true)
                    .desired_width(260.0),
            )
            .labelled_by(l);
            ui.end_row();
        });
        ui.horizontal(|ui| {
            let ready = !self.busy() && !self.email.trim().is_empty() && !self.password.is_empty();
            let sign_in = ui
                .add_enabled(ready, egui::Button::new("Sign in"))
                .clicked();
            let create = ui
                .add_enabled(ready, egui::Button::new("Create account"))
                .clicked();
            if sign_in || create {
                asked.push(AccountRequest::SignIn {
                    email: self.email.trim().to_owned(),
                    password: self.password.clone(),
                    create,
                });
            }
            let can_reset = !self.busy() && !self.email.trim().is_empty();
            if ui
                .add_enabled(can_reset, egui::Button::new("Forgot password?"))
                .on_hover_text("Mails a link to choose a new password to the email above")
                .clicked()
            {
                asked.push(AccountRequest::ForgotPassword(self.email.trim().to_owned()));
            }
        });
        if let Some(store) = &self.secrets {
            ui.label(
                egui::RichText::new(format!("Your session will be kept in {}.", store.kept()))
                    .weak()
                    .small(),
            );
        }
    }

    fn signed_in_ui(&mut self, ui: &mut egui::Ui, asked: &mut Vec<AccountRequest>) {
        if let Some(me) = self.me.clone() {
            ui.label(egui::RichText::new(&me.email).strong());
            ui.label(format!("Balance: {} credits", me.balance));
            if !me.email_verified {
                verify_banner(ui, &me, self.busy(), asked);
            }
            if me.debt > 0 {
                ui.colored_label(
                    ui.visuals().error_fg_color,
                    format!(
                        "{} credits are owed from a refunded or disputed payment; new runs on \
                         the account route wait until they are paid.",
                        me.debt
                    ),
                );
            }
            let mut mails = me.generation_mails;
            if ui
                .add_enabled(
                    !self.busy(),
                    egui::Checkbox::new(&mut mails, "Mail me when a job of over a minute finishes"),
                )
                .changed()
            {
                asked.push(AccountRequest::SetGenerationMails(mails));
            }
            ui.separator();
            ui.heading("Training data sharing");
            let mut opt_in = me.data_sharing.opt_in;
            let toggle = ui.add_enabled(
                !self.busy(),
                egui::Checkbox::new(
                    &mut opt_in,
                    "Share my results to train better models (10 % off the membership)",
                ),
            );
            if toggle.changed() {
                asked.push(AccountRequest::SetSharing(opt_in));
            }
            if let Some(at) = me.data_sharing.opted_in_at {
                ui.label(format!("Sharing since {}", date(at)));
            }
            egui::CollapsingHeader::new("What data is shared?").show(ui, |ui| {
                for f in SHARED_FIELDS {
                    ui.label(format!("• {f}"));
                }
                ui.label(
                    egui::RichText::new(
                        "Only while sharing is on. Only you can see your records; \
                         turning it off stops collection.",
                    )
                    .weak(),
                );
            });
            if ui
                .add_enabled(!self.busy(), egui::Button::new("Delete my shared data"))
                .clicked()
            {
                asked.push(AccountRequest::DeleteSharedData);
            }
            ui.separator();
            self.billing_ui(ui, &me, asked);
            self.security_ui(ui, asked);
        } else if !self.busy() {
            asked.push(AccountRequest::Refresh);
        }
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!self.busy(), egui::Button::new("Sign out"))
                .clicked()
            {
                asked.push(AccountRequest::SignOut);
            }
            if ui
                .add_enabled(!self.busy(), egui::Button::new("Sign out everywhere"))
                .on_hover_text("Ends the session on every device, this one too")
                .clicked()
            {
                asked.push(AccountRequest::SignOutEverywhere);
            }
        });
    }

    /// Credits and membership: packs and the membership open Stripe Checkout in the browser.
    fn billing_ui(&mut self, ui: &mut egui::Ui, me: &Me, asked: &mut Vec<AccountRequest>) {
        ui.heading("Credits and membership");
        let Some(billing) = self.billing.clone() else {
            match &self.billing_note {
                Some(note) => {
                    ui.label(
                        egui::RichText::new(format!("Buying is not available: {note}")).weak(),
                    );
                }
                None if !self.busy() => asked.push(AccountRequest::LoadBilling),
                None => {}
            }
            ui.separator();
            return;
        };
        let busy = self.busy();
        ui.horizontal_wrapped(|ui| {
            for pack in &billing.packs {
                if ui
                    .add_enabled(
                        !busy,
                        egui::Button::new(format!("Buy {} credits", pack.credits)),
                    )
                    .clicked()
                {
                    asked.push(AccountRequest::Checkout(pack.item.clone()));
                }
            }
        });
        match &billing.membership {
            Some(m) if m.status != "canceled" => {
                let renews = m.renews_at.map(date).unwrap_or_default();
                ui.label(format!(
                    "Membership: {}{}{}",
                    m.status,
                    if renews.is_empty() {
                        String::new()
                    } else if m.cancel_at_period_end {
                        format!(", ends {renews}")
                    } else {
                        format!(", renews {renews}")
                    },
                    if m.discounted {
                        " · 10 % data-sharing discount"
                    } else {
                        ""
                    }
                ));
            }
            _ if billing.membership_offered => {
                let label = if billing.discount_percent > 0 {
                    format!(
                        "Become a member ({} % off while you share)",
                        billing.discount_percent
                    )
                } else {
                    "Become a member".to_owned()
                };
                if ui.add_enabled(!busy, egui::Button::new(label)).clicked() {
                    asked.push(AccountRequest::Checkout("membership".to_owned()));
                }
                if billing.discount_percent == 0 && !me.data_sharing.opt_in {
                    ui.label(
                        egui::RichText::new("Share training data to get 10 % off the membership.")
                            .weak(),
                    );
                }
            }
            _ => {}
        }
        if ui
            .add_enabled(!busy, egui::Button::new("Manage billing"))
            .on_hover_text("Cards, invoices and cancelling, on Stripe")
            .clicked()
        {
            asked.push(AccountRequest::BillingPortal);
        }
        if self.awaiting_payment.is_some() {
            ui.label(egui::RichText::new("waiting for the payment to land…").weak());
        }
        ui.separator();
    }

    /// Change password and delete account.
    fn security_ui(&mut self, ui: &mut egui::Ui, asked: &mut Vec<AccountRequest>) {
        egui::CollapsingHeader::new("Change password").show(ui, |ui| {
            egui::Grid::new("change-password")
                .num_columns(2)
                .show(ui, |ui| {
                    let l = ui.label("Current password").id;
                    ui.add(egui::TextEdit::singleline(&mut self.current_password).password(true))
                        .labelled_by(l);
                    ui.end_row();
                    let l = ui.label("New password").id;
                    ui.add(egui::TextEdit::singleline(&mut self.new_password).password(true))
                        .labelled_by(l);
                    ui.end_row();
                });
            let long_enough = self.new_password.chars().count() >= 12;
            if !self.new_password.is_empty() && !long_enough {
                ui.label(egui::RichText::new("at least 12 characters").weak());
            }
            let ready = !self.busy() && !self.current_password.is_empty() && long_enough;
            if ui
                .add_enabled(ready, egui::Button::new("Change password"))
                .on_hover_text("Signs out every other device")
                .clicked()
            {
                asked.push(AccountRequest::ChangePassword {
                    current: self.current_password.clone(),
                    new: self.new_password.clone(),
                });
            }
        });
        egui::CollapsingHeader::new("Delete account").show(ui, |ui| {
            ui.label(
                "Deletes your account, your sessions, your shared training data and the files \
                 you uploaded. Remaining credits are lost. Projects on this computer stay.",
            );
            let l = ui.label("Password").id;
            ui.add(egui::TextEdit::singleline(&mut self.delete_password).password(true))
                .labelled_by(l);
            ui.checkbox(
                &mut self.delete_confirmed,
                "I understand that this cannot be undone",
            );
            let ready = !self.busy() && self.delete_confirmed && !self.delete_password.is_empty();
            let button = egui::Button::new(
                egui::RichText::new("Delete my account").color(ui.visuals().error_fg_color),
            );
            if ui.add_enabled(ready, button).clicked() {
                asked.push(AccountRequest::DeleteAccount(self.delete_password.clone()));
            }
        });
        ui.separator();
    }
}

/// "Confirm your email": the starter credits wait for it.
fn verify_banner(ui: &mut egui::Ui, me: &Me, busy: bool, asked: &mut Vec<AccountRequest>) {
    egui::Frame::group(ui.style())
        .fill(ui.visuals().warn_fg_color.gamma_multiply(0.15))
        .show(ui, |ui| {
            ui.label(egui::RichText::new("Confirm your email").strong());
            ui.label(format!(
                "We sent a link to {}. Open it to confirm the address; your starter credits \
                 arrive when you do.",
                me.email
            ));
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(!busy, egui::Button::new("Send the link again"))
                    .clicked()
                {
                    asked.push(AccountRequest::ResendVerification);
                }
                if ui
                    .add_enabled(!busy, egui::Button::new("I have confirmed it"))
                    .clicked()
                {
                    asked.push(AccountRequest::Refresh);
                }
            });
        });
}

/// Opens `url` in the platform's browser (runs on a background task).
fn open_in_browser(url: &str) -> Result<(), String> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err("not a web address".to_owned());
    }
    let child = if cfg!(target_os = "macos") {
        std::process::Command::new("open").arg(url).spawn()
    } else if cfg!(target_os = "windows") {
        std::process::Command::new("rundll32")
            .args(["url.dll,FileProtocolHandler", url])
            .spawn()
    } else {
        std::process::Command::new("xdg-open").arg(url).spawn()
    };
    // Called on a background task: the opener returns at once (the browser runs on its own).
    child
        .and_then(|mut c| c.wait())
        .map_err(|e| e.to_string())
        .and_then(|status| {
            if status.success() {
                Ok(())
            } else {
                Err(format!("the browser opener failed ({status})"))
            }
        })
}

/// A message for the window; offline errors start with "offline".
fn describe(e: &AccountError) -> String {
    match e {
        AccountError::Offline(_) => {
            "offline: the account server cannot be reached; the board keeps working".to_owned()
        }
        other => other.to_string(),
    }
}

/// `YYYY-MM-DD HH:MM UTC` of Unix milliseconds.
pub(crate) fn date_time(ms: i64) -> String {
    let minutes = ms.div_euclid(60_000).rem_euclid(24 * 60);
    format!("{} {:02}:{:02} UTC", date(ms), minutes / 60, minutes % 60)
}

/// `YYYY-MM-DD` (UTC) of Unix milliseconds.
pub(crate) fn date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_795_651_200_000), "2026-11-26");
        assert_eq!(date(951_782_400_000), "2000-02-29");
        assert_eq!(
            date_time(1_795_651_200_000 + 3_600_000 * 13 + 60_000 * 7 + 59_999),
            "2026-11-26 13:07 UTC"
        );
        assert_eq!(date_time(-1), "1969-12-31 23:59 UTC");
    }
}
