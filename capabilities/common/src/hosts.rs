//! The operator's allowlist of endpoints a connector may name.

/// Whether `host:port` is allowed by the operator's patterns: `host`,
/// `host:port`, `[v6]:port`, `*.suffix` (subdomains only), `*`; case and a
/// trailing dot do not matter. No pattern at all allows every host.
pub fn host_allowed(patterns: &[String], host: &str, port: u16) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    patterns.iter().any(|p| {
        let p = p.trim().to_ascii_lowercase();
        let (ph, pp) = split_pattern(&p);
        let host_ok = match ph.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => ph == "*" || ph == host,
        };
        host_ok && pp.is_none_or(|pp| pp == port)
    })
}

/// `[v6]:port`, `host:port`, or a bare host (any port). A bare IPv6 address has
/// colons but no brackets, so its last group is not taken for a port.
fn split_pattern(p: &str) -> (&str, Option<u16>) {
    match p.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') || h.ends_with(']') => match port.parse::<u16>() {
            Ok(port) => (h.trim_start_matches('[').trim_end_matches(']'), Some(port)),
            Err(_) => (p.trim_start_matches('[').trim_end_matches(']'), None),
        },
        _ => (p.trim_start_matches('[').trim_end_matches(']'), None),
    }
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    fn pats(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn no_pattern_allows_all() {
        assert!(host_allowed(&[], "anything", 1));
    }

    #[test]
    fn hosts_ports_and_wildcards() {
        let p = pats(&["db.internal:3306", "*.example.com", "Cache.Internal"]);
        assert!(host_allowed(&p, "db.internal", 3306));
        assert!(!host_allowed(&p, "db.internal", 3307));
        assert!(host_allowed(&p, "a.example.com", 1));
        assert!(host_allowed(&p, "a.b.example.com.", 1));
        assert!(!host_allowed(&p, "example.com", 3306));
        assert!(!host_allowed(&p, "evilexample.com", 3306));
        assert!(host_allowed(&p, "cache.internal", 6379));
        assert!(!host_allowed(&p, "127.0.0.1", 3306));
        assert!(host_allowed(&pats(&["*"]), "x", 9));
    }

    #[test]
    fn ipv6_with_and_without_port() {
        let p = pats(&["[::1]:5432", "fe80::1"]);
        assert!(host_allowed(&p, "::1", 5432));
        assert!(!host_allowed(&p, "::1", 5433));
        // A bare address: its last group is not a port.
        assert!(host_allowed(&p, "fe80::1", 1));
    }
}
