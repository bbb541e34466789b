//! Origins and the operator's allowlist: `scheme://host[:port]`, with `*` for
//! any host (`*`), any subdomain (`*.example.com`) or any port (`:*`), as
//! Spin's `allowed_outbound_hosts`. URLs are parsed by the `url` crate (WHATWG),
//! so what is checked is what is connected to.

use url::{Host, Url};

use super::HttpError;

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    Any,
    /// `*.example.com`: `example.com`'s subdomains (not itself).
    Subdomain(String),
    Exact(String),
}

/// One allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigin {
    /// The entry as the operator wrote it.
    raw: String,
    scheme: String,
    host: HostRule,
    /// `None` = any port.
    port: Option<u16>,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// The host of a parsed URL as the allowlist compares it (IPv6 in brackets).
fn host_text(url: &Url) -> Option<String> {
    match url.host()? {
        Host::Domain(d) => Some(d.trim_end_matches('.').to_ascii_lowercase()),
        Host::Ipv4(ip) => Some(ip.to_string()),
        Host::Ipv6(ip) => Some(format!("[{ip}]")),
    }
}

impl AllowedOrigin {
    /// Parses one allowlist entry; the message says what is wrong.
    pub fn parse(entry: &str) -> Result<AllowedOrigin, String> {
        let (scheme, rest) = entry
            .split_once("://")
            .ok_or_else(|| format!("{entry:?} has no scheme (write https://host[:port])"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "{entry:?}: only http and https origins can be allowed"
            ));
        }
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('@') || rest.contains('?') || rest.contains('#') {
            return Err(format!(
                "{entry:?} is not an origin (no path, user or query: scheme://host[:port])"
            ));
        }
        // The port is after the last `:` unless that is inside an IPv6 literal.
        let (host, port) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains(']') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        let port = match port {
            None => default_port(&scheme),
            Some("*") => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| format!("{entry:?}: port {p:?} is not a number or `*`"))?,
            ),
        };
        let host = if host == "*" {
            HostRule::Any
        } else if let Some(parent) = host.strip_prefix("*.") {
            let canonical = canonical_host(&scheme, parent)
                .ok_or_else(|| format!("{entry:?}: {parent:?} is not a host name"))?;
            HostRule::Subdomain(canonical)
        } else {
            if host.contains('*') {
                return Err(format!(
                    "{entry:?}: `*` may only be the whole host or its first label (`*.example.com`)"
                ));
            }
            HostRule::Exact(
                canonical_host(&scheme, host)
                    .ok_or_else(|| format!("{entry:?}: {host:?} is not a host"))?,
            )
        };
        Ok(AllowedOrigin {
            raw: entry.to_string(),
            scheme,
            host,
            port,
        })
    }

    /// Whether `url` is of this origin.
    pub fn allows(&self, url: &Url) -> bool {
        if url.scheme() != self.scheme {
            return false;
        }
        if let Some(p) = self.port {
            if url.port_or_known_default() != Some(p) {
                return false;
            }
        }
        let Some(host) = host_text(url) else {
            return false;
        };
        match &self.host {
            HostRule::Any => true,
            HostRule::Exact(h) => host == *h,
            HostRule::Subdomain(parent) => host
                .strip_suffix(parent.as_str())
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        }
    }
}

/// The host as the `url` crate writes it (punycode, lower case, IP normalized).
fn canonical_host(scheme: &str, host: &str) -> Option<String> {
    let url = Url::parse(&format!("{scheme}://{host}/")).ok()?;
    host_text(&url)
}

/// The operator's allowlist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist(Vec<AllowedOrigin>);

impl Allowlist {
    /// Parses every entry (all must be valid).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Allowlist, String> {
        entries
            .iter()
            .map(|e| AllowedOrigin::parse(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()
            .map(Allowlist)
    }

    /// Nothing is allowed (the capability is off).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any entry allows `url`.
    pub fn allows(&self, url: &Url) -> bool {
        self.0.iter().any(|o| o.allows(url))
    }
}

impl std::fmt::Display for Allowlist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let raws: Vec<&str> = self.0.iter().map(|o| o.raw.as_str()).collect();
        f.write_str(&raws.join(","))
    }
}

/// `scheme://host:port` of a URL, for messages.
pub fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

/// Parses a URL a plugin sent: http(s) only, no credentials in it.
pub fn parse_url(raw: &str) -> Result<Url, HttpError> {
    let url = Url::parse(raw).map_err(|e| HttpError::InvalidUrl {
        url: raw.to_string(),
        reason: e.to_string(),
    })?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(HttpError::InvalidUrl {
            url: raw.to_string(),
            reason: format!("scheme {:?} is not http or https", url.scheme()),
        });
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(HttpError::InvalidUrl {
            url: raw.to_string(),
            reason: "credentials in the URL are not allowed; name them as the request's auth"
                .into(),
        });
    }
    if url.host().is_none() {
        return Err(HttpError::InvalidUrl {
            url: raw.to_string(),
            reason: "no host".into(),
        });
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, url: &str) -> bool {
        AllowedOrigin::parse(entry)
            .expect("entry")
            .allows(&Url::parse(url).expect("url"))
    }

    #[test]
    fn origins_match_scheme_host_and_port() {
        assert!(allows(
            "https://api.example.com",
            "https://api.example.com/graphql?x=1"
        ));
        assert!(allows(
            "https://api.example.com",
            "https://API.example.com:443/"
        ));
        assert!(!allows(
            "https://api.example.com",
            "http://api.example.com/"
        ));
        assert!(!allows(
            "https://api.example.com",
            "https://api.example.com:8443/"
        ));
        assert!(!allows(
            "https://api.example.com",
            "https://api.example.com.evil.org/"
        ));
        assert!(allows("http://127.0.0.1:8080", "http://127.0.0.1:8080/x"));
        assert!(!allows("http://127.0.0.1:8080", "http://127.0.0.1:8081/x"));
        assert!(allows("http://127.0.0.1:*", "http://127.0.0.1:9/x"));
        assert!(allows("https://*.example.com", "https://a.b.example.com/"));
        assert!(!allows("https://*.example.com", "https://example.com/"));
        assert!(!allows("https://*.example.com", "https://badexample.com/"));
        assert!(allows("https://*", "https://anything.org/"));
        assert!(allows("http://[::1]:8080", "http://[0:0::1]:8080/"));
        assert!(!allows("http://localhost:8080", "http://127.0.0.1:8080/"));
        for bad in [
            "api.example.com",
            "ftp://x",
            "https://a/b",
            "https://u@a",
            "https://a*b.com",
            "https://a:x",
        ] {
            assert!(AllowedOrigin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plugin_urls_are_http_without_credentials() {
        assert!(parse_url("https://a.example/x").is_ok());
        assert!(matches!(
            parse_url("file:///etc/passwd"),
            Err(HttpError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_url("https://u:p@a.example/"),
            Err(HttpError::InvalidUrl { .. })
        ));
        assert!(matches!(
            parse_url("not a url"),
            Err(HttpError::InvalidUrl { .. })
        ));
    }
}
