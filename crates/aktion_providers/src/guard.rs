//! What a provider's answer can make this machine reach.
//!
//! URLs in provider responses (outputs, presigned uploads, redirects) are not trusted: checked
//! by name before a request ([`crate::output_url_allowed`]) and here by *address* while
//! connecting. A public name that resolves to a loopback, private or link-local address (DNS
//! rebinding) is refused, and so is a redirect from a provider to an internal address. The
//! hosts the user configured (a ComfyUI on the LAN, a local test server) are trusted: the user
//! chose them.

use std::collections::HashSet;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;

/// Redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// Whether `ip` is an address on the public internet (not loopback, private, link-local,
/// shared, documentation, multicast or reserved).
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || a >= 224)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// The hosts of the configured endpoints, lower-cased: the only names that may resolve to a
/// non-public address.
#[derive(Debug, Clone, Default)]
pub struct TrustedHosts(Arc<HashSet<String>>);

impl TrustedHosts {
    /// The hosts of `urls` (unparsable ones are skipped: they cannot be requested either).
    pub fn of<'a>(urls: impl IntoIterator<Item = &'a str>) -> Self {
        Self(Arc::new(
            urls.into_iter()
                .filter_map(|u| reqwest::Url::parse(u).ok())
                .filter_map(|u| u.host_str().map(str::to_ascii_lowercase))
                .collect(),
        ))
    }

    pub(crate) fn contains(&self, host: &str) -> bool {
        self.0.contains(&host.to_ascii_lowercase())
    }
}

type LookupFuture = Pin<Box<dyn Future<Output = std::io::Result<Vec<SocketAddr>>> + Send>>;
/// Name → addresses; the system resolver in the app, a table in tests.
pub(crate) type Lookup = Arc<dyn Fn(String) -> LookupFuture + Send + Sync>;

/// The operating system's resolver (getaddrinfo on a blocking thread, as reqwest's default).
pub(crate) fn system_lookup() -> Lookup {
    Arc::new(|name: String| {
        Box::pin(async move { Ok(tokio::net::lookup_host((name.as_str(), 0)).await?.collect()) })
    })
}

/// Resolves names and drops every non-public address unless the name is trusted.
pub(crate) struct PublicOnly {
    pub(crate) trusted: TrustedHosts,
    pub(crate) lookup: Lookup,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let trusted = self.trusted.contains(&host);
        let lookup = (self.lookup)(host.clone());
        Box::pin(async move {
            let all = lookup.await?;
            let kept: Vec<SocketAddr> = if trusted {
                all.clone()
            } else {
                all.iter().copied().filter(|a| is_public(a.ip())).collect()
            };
            if kept.is_empty() {
                let found: Vec<String> = all.iter().map(|a| a.ip().to_string()).collect();
                let message = if found.is_empty() {
                    format!("{host} has no address")
                } else {
                    format!(
                        "{host} resolves to {}, not a public address; refused",
                        found.join(", ")
                    )
                };
                return Err(message.into());
            }
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// Follows a redirect within one origin, or to `https://` on a public host; anything else
/// (plain `http://` elsewhere, an internal name or address) ends the request with an error.
pub(crate) fn redirect_policy() -> redirect::Policy {
    redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let same_origin = attempt
            .previous()
            .last()
            .is_some_and(|prev| prev.origin() == attempt.url().origin());
        if same_origin {
            return attempt.follow();
        }
        match public_https(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(why) => {
                let message = format!(
                    "refused a redirect to {}: {why}",
                    attempt.url().origin().ascii_serialization()
                );
                attempt.error(message)
            }
        }
    })
}

/// `https://` to a host that is not by its name or literal address internal.
pub(crate) fn public_https(target: &reqwest::Url) -> std::result::Result<(), String> {
    if target.scheme() != "https" {
        return Err(format!("{} is not https", target.scheme()));
    }
    let host = target.host_str().unwrap_or_default();
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let lower = host.to_ascii_lowercase();
    if let Ok(ip) = bare.parse::<IpAddr>() {
        if !is_public(ip) {
            return Err(format!("{ip} is not a public address"));
        }
    } else if host.is_empty()
        || lower == "localhost"
        || lower.ends_with(".localhost")
        || lower.ends_with(".internal")
        || !host.contains('.')
    {
        return Err(format!("{host:?} is not a public host"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::HttpSettings;

    /// A server that counts connections and answers each with `response`.
    async fn server(response: String) -> (SocketAddr, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = socket.read(&mut buf).await;
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        (addr, hits)
    }

    fn ok() -> String {
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok".to_owned()
    }

    /// Every name resolves to loopback, as a rebinding attacker's DNS would answer.
    fn rebinding() -> Lookup {
        Arc::new(|_name: String| {
            Box::pin(async { Ok(vec![SocketAddr::from(([127, 0, 0, 1], 0))]) })
        })
    }

    fn client(trusted: &[&str]) -> reqwest::Client {
        crate::http::build_client_with(
            &HttpSettings::default(),
            TrustedHosts::of(trusted.iter().copied()),
            rebinding(),
        )
        .unwrap()
    }

    fn chain(e: &dyn std::error::Error) -> String {
        let mut out = e.to_string();
        let mut source = e.source();
        while let Some(s) = source {
            out.push_str(": ");
            out.push_str(&s.to_string());
            source = s.source();
        }
        out
    }

    #[tokio::test]
    async fn a_public_name_resolving_to_loopback_is_never_connected_to() {
        let (addr, hits) = server(ok()).await;
        let url = format!("http://files.provider-cdn.example:{}/out.png", addr.port());
        let err = client(&[]).get(&url).send().await.unwrap_err();
        let text = chain(&err);
        assert!(text.contains("127.0.0.1, not a public address"), "{text}");
        assert_eq!(
            hits.load(Ordering::SeqCst),
            0,
            "nothing reached the internal server"
        );
    }

    #[tokio::test]
    async fn a_configured_host_may_be_private() {
        let (addr, hits) = server(ok()).await;
        let base = format!("http://comfy.lan:{}", addr.port());
        let resp = client(&[&base])
            .get(format!("{base}/view"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "ok");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_redirect_to_an_internal_address_is_not_followed() {
        let (inner, inner_hits) = server(ok()).await;
        let (outer, _) = server(format!(
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{}/admin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            inner.port()
        ))
        .await;
        let err = client(&[])
            .get(format!("http://127.0.0.1:{}/output", outer.port()))
            .send()
            .await
            .unwrap_err();
        assert!(
            chain(&err).contains("refused a redirect"),
            "{}",
            chain(&err)
        );
        assert_eq!(inner_hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_redirect_within_one_origin_is_followed() {
        // A server that redirects `/a` to `/b` on itself, then answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let answer = if request.starts_with("GET /a ") {
                    "HTTP/1.1 302 Found\r\nLocation: /b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
                } else {
                    ok()
                };
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        let resp = client(&[])
            .get(format!("http://127.0.0.1:{port}/a"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.url().path(), "/b");
        assert_eq!(resp.text().await.unwrap(), "ok");
    }

    #[test]
    fn public_addresses_are_told_apart() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(internal.parse().unwrap()), "{internal}");
        }
        for public in ["8.8.8.8", "151.101.1.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
