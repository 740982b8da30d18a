//! A minimal S3-compatible bucket on 127.0.0.1 (path-style `/{bucket}/{key}`): `PUT` and `HEAD`
//! signed with `SigV4` in the `Authorization` header, `GET` either so or through a presigned URL
//! (`X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Expires`, `X-Amz-Signature` in the query, as
//! `object_store`'s signer writes them). It checks the form of a signature and the access key
//! id it names, not the HMAC itself; what it proves is that a file went in with the bucket's
//! credentials and came out through a presigned URL, never through an open one.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;

/// One request as the bucket saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenObject {
    pub method: Method,
    pub key: String,
    /// Authorised by a presigned query rather than a header.
    pub presigned: bool,
    pub status: u16,
}

struct Inner {
    objects: BTreeMap<String, (String, Bytes)>,
    seen: Vec<SeenObject>,
}

struct BucketState {
    name: String,
    access_key_id: String,
    inner: Mutex<Inner>,
}

impl BucketState {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running bucket. Dropping it stops the server.
pub struct Bucket {
    pub addr: SocketAddr,
    state: Arc<BucketState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Bucket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Bucket {
    /// Serves the bucket `name`, accepting requests signed for `access_key_id`.
    pub async fn start(name: &str, access_key_id: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(BucketState {
            name: name.to_owned(),
            access_key_id: access_key_id.to_owned(),
            inner: Mutex::new(Inner {
                objects: BTreeMap::new(),
                seen: Vec::new(),
            }),
        });
        let app = Router::new()
            .route("/{bucket}/{*key}", any(object))
            .with_state(Arc::clone(&state));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!("fake bucket stopped: {e}");
            }
        });
        Ok(Self { addr, state, task })
    }

    /// The S3 endpoint (`AKTION_INPUT_BUCKET_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Keys of the stored objects.
    pub fn keys(&self) -> Vec<String> {
        self.state.lock().objects.keys().cloned().collect()
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<SeenObject> {
        self.state.lock().seen.clone()
    }
}

/// Whether a `SigV4` credential (`AKID/20260101/region/s3/aws4_request`) names our key.
fn names_key(credential: &str, access_key_id: &str) -> bool {
    let mut parts = credential.split('/');
    parts.next() == Some(access_key_id)
        && parts.next().is_some_and(|d| d.len() == 8)
        && parts.next().is_some_and(|r| !r.is_empty())
        && parts.next() == Some("s3")
        && parts.next() == Some("aws4_request")
}

fn header_signed(headers: &HeaderMap, access_key_id: &str) -> bool {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 Credential=") else {
        return false;
    };
    let credential = rest.split(',').next().unwrap_or_default();
    names_key(credential, access_key_id) && auth.contains("Signature=")
}

fn query_signed(query: &str, access_key_id: &str) -> bool {
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or_default();
    get("X-Amz-Algorithm") == "AWS4-HMAC-SHA256"
        && names_key(get("X-Amz-Credential"), access_key_id)
        && get("X-Amz-Expires").parse::<u64>().is_ok_and(|s| s > 0)
        && get("X-Amz-Signature").len() == 64
        && get("X-Amz-Signature")
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

async fn object(
    State(bucket): State<Arc<BucketState>>,
    Path((name, key)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let presigned = query
        .as_deref()
        .is_some_and(|q| query_signed(q, &bucket.access_key_id));
    let signed = header_signed(&headers, &bucket.access_key_id);
    let allowed = name == bucket.name && (signed || (presigned && method == Method::GET));
    let response = if allowed {
        let mut inner = bucket.lock();
        match method {
            Method::PUT => {
                let ct = headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("application/octet-stream")
                    .to_owned();
                inner.objects.insert(key.clone(), (ct, body));
                (StatusCode::OK, [(header::ETAG, "\"e1\"")]).into_response()
            }
            Method::GET | Method::HEAD => match inner.objects.get(&key) {
                Some((ct, bytes)) => {
                    let body = if method == Method::GET {
                        bytes.clone()
                    } else {
                        Bytes::new()
                    };
                    (
                        StatusCode::OK,
                        [
                            (header::CONTENT_TYPE, ct.clone()),
                            (header::ETAG, "\"e1\"".to_owned()),
                            (
                                header::LAST_MODIFIED,
                                "Wed, 25 Nov 2026 10:00:00 GMT".to_owned(),
                            ),
                        ],
                        body,
                    )
                        .into_response()
                }
                None => StatusCode::NOT_FOUND.into_response(),
            },
            _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        }
    } else {
        StatusCode::FORBIDDEN.into_response()
    };
    bucket.lock().seen.push(SeenObject {
        method,
        key,
        presigned: presigned && !signed,
        status: response.status().as_u16(),
    });
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_must_name_the_key_and_have_their_parts() {
        let good = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261204%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261204T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=".to_owned()
            + &"a".repeat(64);
        assert!(query_signed(&good, "AKID"));
        assert!(!query_signed(&good, "OTHER"));
        assert!(!query_signed(
            &good.replace("X-Amz-Expires=3600", ""),
            "AKID"
        ));
        assert!(!query_signed("", "AKID"));
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            "AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab"
                .parse()
                .unwrap(),
        );
        assert!(header_signed(&h, "AKID"));
        assert!(!header_signed(&HeaderMap::new(), "AKID"));
    }
}
