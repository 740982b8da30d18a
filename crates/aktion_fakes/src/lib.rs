//! Fake Replicate, RunComfy, A2E, fal and ComfyUI servers for tests and local trials.
//!
//! Each fake listens on 127.0.0.1 (port 0 by default), speaks its provider's real wire format
//! (`shared/PROVIDERS.md`), including the odd corners, and can be scripted: the steps every job
//! goes through (one step per status poll), one-shot faults on a route (429 with `Retry-After`,
//! 5xx, hangs, malformed JSON, a 500 after the work was done), a random 5xx ratio, and the output
//! file served (type and size). Every fake counts submissions, so a test can prove a resumed job
//! was not submitted again.
//!
//! By default each fake is **strict**: it implements only what PROVIDERS.md marks [V] (verified in
//! the provider's documentation or official SDKs). Endpoints known only from third-party code
//! ([C]/[I], e.g. A2E's presigned upload) answer 404 unless turned on with
//! [`Fake::allow_guessed_endpoints`]; bodies the documentation defines refuse unknown fields;
//! RunComfy refuses override node ids and input names its deployment's workflow lacks; A2E fetches
//! every input URL as the real service would, and refuses a task whose input it cannot fetch.
//!
//! Time inside the fakes is tokio time, so tests run them under a paused clock. This crate is a
//! test and development tool; the product never depends on it.

mod a2e;
mod comfyui;
mod comfyui_validate;
mod fal;
mod replicate;
mod runcomfy;
pub mod s3;
pub mod stripe;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// Which provider a fake imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Replicate,
    RunComfy,
    A2e,
    Fal,
    ComfyUi,
}

impl Flavor {
    pub const ALL: [Flavor; 5] = [
        Self::Replicate,
        Self::RunComfy,
        Self::A2e,
        Self::Fal,
        Self::ComfyUi,
    ];

    /// The variable the app reads this fake's base URL from.
    pub fn env_var(self) -> &'static str {
        match self {
            Self::Replicate => "AKTION_REPLICATE_BASE_URL",
            Self::RunComfy => "AKTION_RUNCOMFY_BASE_URL",
            Self::A2e => "AKTION_A2E_BASE_URL",
            Self::Fal => "AKTION_FAL_BASE_URL",
            Self::ComfyUi => "AKTION_COMFYUI_URL",
        }
    }

    /// Path prefix of the API (Replicate's base URL includes `/v1`).
    fn prefix(self) -> &'static str {
        match self {
            Self::Replicate => "/v1",
            _ => "",
        }
    }
}

/// One step of a job, consumed by one status poll. The state after the last step sticks.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Waiting, at this queue position (0 = next).
    Queued(u32),
    /// Running, with this fraction done.
    Running(f32),
    /// Finished with outputs.
    Succeed,
    /// Finished with a failure, in the provider's normal failure form.
    Fail(String),
    /// Replicate: deadline passed before the prediction started.
    Aborted,
    /// Replicate: succeeded, but outputs were deleted by retention (`data_removed`).
    DataRemoved,
    /// RunComfy `{error_code, error_message}` / A2E `{code != 0}` inside an HTTP 200.
    ErrorEnvelope(String),
}

impl Step {
    fn is_terminal(&self) -> bool {
        !matches!(self, Self::Queued(_) | Self::Running(_))
    }
}

/// Which kind of request a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Submit,
    Status,
    Result,
    Cancel,
    Upload,
    Download,
    Other,
}

/// A scripted misbehaviour, applied once to the next request on its route.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer with this status before doing anything, with an optional `Retry-After` value.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// Do the work, then answer 500 anyway (the client cannot know the submit landed).
    FailAfterWork,
    /// Never answer.
    Hang,
    /// Answer 200 with a truncated JSON body.
    MalformedJson,
}

/// The file served for job outputs.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    pub content_type: String,
    pub extension: String,
    pub bytes: Arc<[u8]>,
}

impl OutputSpec {
    /// A small PNG-looking file (valid signature, filler body).
    pub fn png() -> Self {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.resize(2048, 7);
        Self {
            content_type: "image/png".into(),
            extension: "png".into(),
            bytes: bytes.into(),
        }
    }

    /// A small MP4-looking file (`ftyp` box).
    pub fn mp4() -> Self {
        let mut bytes = b"\0\0\0\x18ftypmp42".to_vec();
        bytes.resize(4096, 3);
        Self {
            content_type: "video/mp4".into(),
            extension: "mp4".into(),
            bytes: bytes.into(),
        }
    }
}

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: tokio::time::Instant,
    pub method: Method,
    /// Path and query.
    pub uri: String,
    pub route: Route,
    pub authorization: Option<String>,
    /// The status the fake answered with (0 for hangs).
    pub status: u16,
}

#[derive(Debug)]
struct Job {
    id: String,
    /// Index of the step shown at the next status poll.
    cursor: usize,
    cancelled: bool,
    /// The submitted body (Replicate `input`, RunComfy `overrides`, ...).
    input: Value,
    /// Extra per-provider data (A2E feature, fal app, deployment id).
    tag: String,
    /// Order of submission (ids are partly random, so they do not sort by time).
    seq: usize,
}

struct Inner {
    script: Vec<Step>,
    faults: VecDeque<(Route, Fault)>,
    random_5xx: Option<(f64, fastrand::Rng)>,
    jobs: BTreeMap<String, Job>,
    submissions: usize,
    seen: Vec<Seen>,
    output: OutputSpec,
    key: Option<String>,
    next_id: u64,
    uploads: BTreeMap<String, (String, Vec<u8>)>,
    cancel_spelling: &'static str,
    websocket: bool,
    /// ComfyUI model files this server does not have.
    missing: std::collections::BTreeSet<String>,
    /// [C]/[I] endpoints answer (off by default: strict).
    guessed: bool,
    /// RunComfy: deployment id → its API-format workflow (the ids and inputs overrides may use).
    deployments: BTreeMap<String, Value>,
    /// A2E: the input URLs it fetched, in order.
    fetched: Vec<String>,
}

/// Shared state of one fake; cloned into every handler.
pub struct FakeState {
    flavor: Flavor,
    base_url: String,
    inner: Mutex<Inner>,
    /// A2E fetches its input URLs with this.
    http: reqwest::Client,
}

impl FakeState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panicking test thread must not wedge every later request.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn new_id(&self, prefix: &str) -> String {
        let mut inner = self.lock();
        inner.next_id += 1;
        format!("{prefix}{:08x}{:04x}", fastrand::u32(..), inner.next_id)
    }

    /// Records a submission and creates its job.
    fn create_job(&self, id: &str, input: Value, tag: &str) {
        let mut inner = self.lock();
        inner.submissions += 1;
        let seq = inner.submissions;
        inner.jobs.insert(
            id.to_owned(),
            Job {
                seq,
                id: id.to_owned(),
                cursor: 0,
                cancelled: false,
                input,
                tag: tag.to_owned(),
            },
        );
    }

    /// The job's current step, advancing it when `advance` (a status poll) is set.
    fn step(&self, id: &str, advance: bool) -> Option<(Step, bool, Value, String)> {
        let mut inner = self.lock();
        let last = inner.script.len().saturating_sub(1);
        let script = inner.script.clone();
        let job = inner.jobs.get_mut(id)?;
        let step = script
            .get(job.cursor.min(last))
            .cloned()
            .unwrap_or(Step::Succeed);
        if advance && !step.is_terminal() && job.cursor < last {
            job.cursor += 1;
        }
        Some((step, job.cancelled, job.input.clone(), job.tag.clone()))
    }

    fn cancel_job(&self, id: &str) -> Option<Step> {
        let mut inner = self.lock();
        let last = inner.script.len().saturating_sub(1);
        let script = inner.script.clone();
        let job = inner.jobs.get_mut(id)?;
        let step = script
            .get(job.cursor.min(last))
            .cloned()
            .unwrap_or(Step::Succeed);
        if !step.is_terminal() {
            job.cancelled = true;
        }
        Some(step)
    }

    fn output(&self) -> OutputSpec {
        self.lock().output.clone()
    }

    fn output_url(&self, name: &str) -> String {
        format!("{}/files/{name}", self.origin())
    }

    /// Scheme, host and port without the API prefix.
    fn origin(&self) -> String {
        self.base_url
            .trim_end_matches(self.flavor.prefix())
            .to_owned()
    }

    fn store_upload(&self, name: &str, content_type: &str, bytes: Vec<u8>) {
        self.lock()
            .uploads
            .insert(name.to_owned(), (content_type.to_owned(), bytes));
    }
}

/// A running fake server.
pub struct Fake {
    pub flavor: Flavor,
    pub addr: SocketAddr,
    state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Fake {
    /// Starts a fake on 127.0.0.1 with a free port.
    pub async fn start(flavor: Flavor) -> std::io::Result<Self> {
        Self::start_on(flavor, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_on(flavor: Flavor, addr: SocketAddr) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}{}", flavor.prefix());
        let state = Arc::new(FakeState {
            flavor,
            base_url,
            inner: Mutex::new(Inner {
                script: vec![
                    Step::Queued(1),
                    Step::Queued(0),
                    Step::Running(0.3),
                    Step::Running(0.8),
                    Step::Succeed,
                ],
                faults: VecDeque::new(),
                random_5xx: None,
                jobs: BTreeMap::new(),
                submissions: 0,
                seen: Vec::new(),
                output: OutputSpec::png(),
                key: None,
                next_id: 0,
                uploads: BTreeMap::new(),
                cancel_spelling: "cancelled",
                websocket: true,
                missing: std::collections::BTreeSet::new(),
                guessed: false,
                deployments: runcomfy::default_deployments(),
                fetched: Vec::new(),
            }),
            http: {
                // reqwest is built without a TLS provider of its own (see aktion_providers).
                let _already = rustls::crypto::ring::default_provider().install_default();
                reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .unwrap_or_default()
            },
        });
        let api = match flavor {
            Flavor::Replicate => replicate::router(),
            Flavor::RunComfy => runcomfy::router(),
            Flavor::A2e => a2e::router(),
            Flavor::Fal => fal::router(),
            Flavor::ComfyUi => comfyui::router(),
        };
        let app: Router = api
            .route("/files/{name}", axum::routing::get(serve_file))
            .route("/upload/{name}", axum::routing::put(receive_upload))
            .layer(middleware::from_fn_with_state(state.clone(), faults))
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("fake server stopped: {e}");
            }
        });
        Ok(Self {
            flavor,
            addr,
            state,
            task,
        })
    }

    /// The value for this provider's `AKTION_*` base-URL variable.
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    /// How many jobs were submitted (accepted) so far.
    pub fn submissions(&self) -> usize {
        self.state.lock().submissions
    }

    /// Steps every job created from now on goes through, one per status poll.
    pub fn set_script(&self, steps: Vec<Step>) {
        self.state.lock().script = steps;
    }

    /// Applies `fault` once, to the next request on `route`.
    pub fn push_fault(&self, route: Route, fault: Fault) {
        self.state.lock().faults.push_back((route, fault));
    }

    /// Answers this share of requests with a 5xx before handling them (seeded, reproducible).
    /// Submits get 503, which says the request was not processed; other routes get any of
    /// 500/502/503/504.
    pub fn set_random_5xx(&self, ratio: f64, seed: u64) {
        self.state.lock().random_5xx = Some((ratio, fastrand::Rng::with_seed(seed)));
    }

    /// The file served for outputs.
    pub fn set_output(&self, output: OutputSpec) {
        self.state.lock().output = output;
    }

    /// Requires this key (in the provider's own auth scheme) on API calls.
    pub fn require_key(&self, key: &str) {
        self.state.lock().key = Some(key.to_owned());
    }

    /// RunComfy spells it both ways; choose which the fake uses.
    pub fn set_cancel_spelling(&self, spelling: &'static str) {
        self.state.lock().cancel_spelling = spelling;
    }

    /// ComfyUI: the server lacks this model file (a workflow loading it is refused with
    /// `value_not_in_list`, as ComfyUI does).
    pub fn remove_model(&self, file: &str) {
        self.state.lock().missing.insert(file.to_owned());
    }

    /// RunComfy: the deployment does not exist (its lookup and its submits answer 404).
    pub fn remove_deployment(&self, id: &str) {
        self.state.lock().deployments.remove(id);
    }

    /// RunComfy: a deployment running this API-format workflow. Submits to it may override only
    /// the workflow's node ids and their inputs; its lookup (`includes=payload`) returns it.
    /// The seed's `CREATE_COHERENT` deployment (six `LoadImage` nodes) is there from the start.
    pub fn add_deployment(&self, id: &str, workflow: Value) {
        self.state
            .lock()
            .deployments
            .insert(id.to_owned(), workflow);
    }

    /// Turns on the endpoints PROVIDERS.md marks [C] or [I] (A2E's presigned upload): off by
    /// default, so a client depending on one fails against the fake as it may against the real
    /// service.
    pub fn allow_guessed_endpoints(&self) {
        self.state.lock().guessed = true;
    }

    /// A2E: the input URLs it fetched so far.
    pub fn fetched(&self) -> Vec<String> {
        self.state.lock().fetched.clone()
    }

    /// ComfyUI: refuse websocket connections, as a proxy without upgrade support would.
    pub fn disable_websocket(&self) {
        self.state.lock().websocket = false;
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().seen.clone()
    }

    /// The submitted input of the most recent job.
    pub fn last_input(&self) -> Option<Value> {
        let inner = self.state.lock();
        inner
            .jobs
            .values()
            .max_by_key(|j| j.seq)
            .map(|j| j.input.clone())
    }

    /// The submitted input of every job, keyed by job id.
    pub fn inputs(&self) -> BTreeMap<String, Value> {
        self.state
            .lock()
            .jobs
            .iter()
            .map(|(k, j)| (k.clone(), j.input.clone()))
            .collect()
    }
}

fn route_of(flavor: Flavor, method: &Method, path: &str) -> Route {
    if path.starts_with("/files/") || path.starts_with("/view") {
        return Route::Download;
    }
    if path.starts_with("/upload/") && method == Method::PUT {
        return Route::Upload;
    }
    match flavor {
        Flavor::Replicate => replicate::route(method, path),
        Flavor::RunComfy => runcomfy::route(method, path),
        Flavor::A2e => a2e::route(method, path),
        Flavor::Fal => fal::route(method, path),
        Flavor::ComfyUi => comfyui::route(method, path),
    }
}

/// Logs each request, checks auth, and applies scripted and random faults.
async fn faults(State(state): State<Arc<FakeState>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().to_string();
    let route = route_of(state.flavor, &method, request.uri().path());
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let record = |status: u16| Seen {
        at: tokio::time::Instant::now(),
        method: method.clone(),
        uri: uri.clone(),
        route,
        authorization: authorization.clone(),
        status,
    };

    let (fault, key) = {
        let mut inner = state.lock();
        let pos = inner.faults.iter().position(|(r, _)| *r == route);
        let mut fault = pos.and_then(|p| inner.faults.remove(p)).map(|(_, f)| f);
        if fault.is_none()
            && route != Route::Download
            && route != Route::Upload
            && let Some((ratio, rng)) = inner.random_5xx.as_mut()
            && rng.f64() < *ratio
        {
            let status = if route == Route::Submit {
                503
            } else {
                [500, 502, 503, 504][rng.usize(..4)]
            };
            fault = Some(Fault::Status {
                status,
                retry_after: None,
            });
        }
        (fault, inner.key.clone())
    };

    // Auth first: providers check keys before anything else.
    let path = request.uri().path();
    let presigned = path.starts_with("/files/") || path.starts_with("/upload/");
    // Providers check keys before anything else, in their own scheme (fal: `Key`, the others
    // `Bearer`); a wrong scheme is refused even when any key would do.
    let scheme = match state.flavor {
        Flavor::Fal => "Key ",
        _ => "Bearer ",
    };
    let refused = match (&key, authorization.as_deref()) {
        _ if presigned || state.flavor == Flavor::ComfyUi => false,
        (Some(key), got) => got != Some(format!("{scheme}{key}").as_str()),
        (None, got) => !got.is_some_and(|a| a.starts_with(scheme) && a.len() > scheme.len()),
    };
    if refused {
        state.lock().seen.push(record(401));
        return unauthorized(state.flavor);
    }

    let response = match fault {
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = (
                status,
                axum::Json(serde_json::json!({ "detail": "injected fault" })),
            )
                .into_response();
            if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Some(Fault::Hang) => {
            state.lock().seen.push(record(0));
            std::future::pending::<()>().await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        Some(Fault::MalformedJson) => {
            let mut resp = Response::new(Body::from("{\"status\": \"IN_PROG"));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            resp
        }
        Some(Fault::FailAfterWork) => {
            let _done = next.run(request).await;
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
        None => next.run(request).await,
    };
    state.lock().seen.push(record(response.status().as_u16()));
    response
}

fn unauthorized(flavor: Flavor) -> Response {
    let body = match flavor {
        Flavor::Replicate => {
            serde_json::json!({"title": "Unauthenticated", "detail": "You did not pass a valid authentication token", "status": 401})
        }
        Flavor::RunComfy => {
            serde_json::json!({"error_code": 401, "error_message": "Invalid API token"})
        }
        Flavor::A2e => serde_json::json!({"code": 401, "msg": "invalid token"}),
        Flavor::Fal | Flavor::ComfyUi => serde_json::json!({"detail": "Unauthorized"}),
    };
    (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
}

/// Output files: `/files/{job}-{n}.{ext}` serves the configured output; uploaded files by name.
async fn serve_file(
    State(state): State<Arc<FakeState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    if let Some((ct, bytes)) = state.lock().uploads.get(&name).cloned() {
        return file_response(&ct, bytes);
    }
    let job_id = name.split('-').next().unwrap_or_default().to_owned();
    match state.step(&job_id, false) {
        Some((Step::DataRemoved, ..)) | None => {
            (StatusCode::NOT_FOUND, "not found").into_response()
        }
        Some(_) => {
            let out = state.output();
            file_response(&out.content_type, out.bytes.to_vec())
        }
    }
}

fn file_response(content_type: &str, bytes: Vec<u8>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

/// Presigned-upload target (A2E, fal): stores the body under its name.
async fn receive_upload(
    State(state): State<Arc<FakeState>>,
    axum::extract::Path(name): axum::extract::Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    state.store_upload(&name, &ct, body.to_vec());
    StatusCode::OK
}

/// Output file names for a finished job.
fn output_names(state: &FakeState, job_id: &str, count: usize) -> Vec<String> {
    let ext = state.output().extension;
    (0..count).map(|i| format!("{job_id}-{i}.{ext}")).collect()
}

/// A JSON response with a status.
fn json(status: StatusCode, body: &Value) -> Response {
    (status, axum::Json(body.clone())).into_response()
}

/// Starts one fake of each flavor.
pub async fn start_all() -> std::io::Result<Vec<Fake>> {
    let mut fakes = Vec::new();
    for flavor in Flavor::ALL {
        fakes.push(Fake::start(flavor).await?);
    }
    Ok(fakes)
}
