use std::fmt;

/// An API key or token. `Debug` and `Display` print a redacted placeholder, so a key inside a
/// config struct, an error or a log line cannot leak by accident. It is deliberately not
/// `Serialize`: keys belong in the OS keychain or the environment, never in a journal or project.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for building an auth header. Kept crate-private so callers cannot
    /// format it somewhere by mistake.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Removes the key from provider-supplied text. Some APIs echo the token they rejected
/// ("invalid token sk_..."), and that text ends up in node errors shown and logged.
pub(crate) fn scrub(text: &str, key: Option<&ApiKey>) -> String {
    match key {
        // Keys shorter than 4 chars cannot be meaningfully scrubbed and are not real keys.
        Some(k) if k.0.len() >= 4 => text.replace(&k.0, "<redacted>"),
        _ => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_key() {
        let key = ApiKey::new("r8_supersecret");
        assert!(!format!("{key:?}").contains("supersecret"));
        assert!(!format!("{key}").contains("supersecret"));
        assert_eq!(key.expose(), "r8_supersecret");
    }

    #[test]
    fn scrub_removes_echoed_keys() {
        let key = ApiKey::new("sk_abcdef");
        assert_eq!(
            scrub("bad token sk_abcdef!", Some(&key)),
            "bad token <redacted>!"
        );
    }
}
