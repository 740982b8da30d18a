//! Prometheus metrics (`GET /metrics`, OpenMetrics text): requests by route and status with
//! their latency, generations by outcome, credits charged, sign-ups and shared records.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

type Labels = Vec<(&'static str, String)>;

/// Every metric the server exports.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    generations: Family<Labels, Counter>,
    running: Gauge,
    credits_charged: Counter,
    beta_signups: Counter,
    training_records: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("aktion");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        let latency = Family::<Labels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.000_5, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        let generations = Family::<Labels, Counter>::default();
        registry.register(
            "generations_finished",
            "Generations by node kind and outcome",
            generations.clone(),
        );
        let running = Gauge::default();
        registry.register(
            "generations_running",
            "Generations this instance is driving now",
            running.clone(),
        );
        let credits_charged = Counter::default();
        registry.register(
            "credits_charged",
            "Credits charged for successful generations",
            credits_charged.clone(),
        );
        let beta_signups = Counter::default();
        registry.register(
            "beta_signups",
            "JOIN BETA form submissions accepted",
            beta_signups.clone(),
        );
        let training_records = Counter::default();
        registry.register(
            "training_records_stored",
            "Training-data records stored for opted-in users",
            training_records.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            generations,
            running,
            credits_charged,
            beta_signups,
            training_records,
        }
    }

    /// The OpenMetrics text of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub fn generation_finished(&self, kind: &str, outcome: &str) {
        self.generations
            .get_or_create(&vec![
                ("kind", kind.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    pub fn generation_started(&self) {
        self.running.inc();
    }

    pub fn generation_stopped(&self) {
        self.running.dec();
    }

    pub fn credits_charged(&self, credits: i64) {
        self.credits_charged
            .inc_by(u64::try_from(credits).unwrap_or_default());
    }

    pub fn beta_signup(&self) {
        self.beta_signups.inc();
    }

    pub fn training_record(&self) {
        self.training_records.inc();
    }
}

/// A method as a label: the standard ones by name, anything else (any token a client makes
/// up is a valid HTTP method) as `other`, so anonymous callers cannot grow the label set.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Middleware counting every request by its route template (never the raw path, which would
/// put ids and hashes into label values).
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method()).to_owned();
    let started = Instant::now();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let m = &state.metrics;
    m.requests
        .get_or_create(&vec![
            ("method", method),
            ("route", route.clone()),
            ("status", status),
        ])
        .inc();
    m.latency
        .get_or_create(&vec![("route", route)])
        .observe(started.elapsed().as_secs_f64());
    response
}
