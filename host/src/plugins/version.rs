//! Contract versions: which `tributary:connector` version this host implements and
//! which plugin versions it accepts (semver: same major; for 0.x the same minor).

use std::sync::OnceLock;

/// The contract the host was built against (`wit/connector.wit`).
const CONTRACT_WIT: &str = include_str!("../../../wit/connector.wit");

/// The package name of the contract.
pub const CONTRACT_PACKAGE: &str = "tributary:connector";

/// The version of `tributary:connector` this host implements, e.g. `0.1.0`.
pub fn host_contract_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| package_version(CONTRACT_WIT).unwrap_or_else(|| "0.0.0".into()))
}

/// The version in a WIT file's `package tributary:connector@X.Y.Z;` line.
fn package_version(wit: &str) -> Option<String> {
    wit.lines().find_map(|l| {
        let rest = l
            .trim()
            .strip_prefix("package ")?
            .strip_prefix(CONTRACT_PACKAGE)?;
        Some(
            rest.strip_prefix('@')?
                .trim_end_matches(';')
                .trim()
                .to_string(),
        )
    })
}

/// `major.minor.patch`, ignoring pre-release and build suffixes.
fn parse(v: &str) -> Option<(u64, u64, u64)> {
    let core = v.split(['-', '+']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u64>().ok());
    let major = it.next()??;
    let minor = it.next().unwrap_or(Some(0))?;
    let patch = it.next().unwrap_or(Some(0))?;
    if it.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

/// Whether a plugin built against `plugin` runs on a host implementing `host`.
pub fn compatible(host: &str, plugin: &str) -> bool {
    match (parse(host), parse(plugin)) {
        (Some((0, hm, _)), Some((0, pm, _))) => hm == pm,
        (Some((hx, _, _)), Some((px, _, _))) => hx == px,
        _ => false,
    }
}

/// Splits an interface name `ns:pkg/iface@ver` into `(ns:pkg/iface, Some(ver))`.
pub fn split_versioned(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_contract_version_from_the_wit() {
        assert_eq!(host_contract_version(), "0.1.0");
        assert_eq!(
            package_version("package tributary:connector@1.2.3;\n"),
            Some("1.2.3".into())
        );
        assert_eq!(package_version("package other:pkg@1.2.3;"), None);
    }

    #[test]
    fn semver_rules() {
        assert!(compatible("0.1.0", "0.1.0"));
        assert!(compatible("0.1.3", "0.1.0"));
        assert!(compatible("0.1.0", "0.1.7"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(!compatible("0.1.0", "1.0.0"));
        assert!(compatible("1.0.0", "1.4.2"));
        assert!(compatible("1.4.0", "1.0.0"));
        assert!(!compatible("1.0.0", "2.0.0"));
        assert!(!compatible("1.0.0", "0.9.0"));
        assert!(compatible("0.1.0", "0.1.0-rc.1"));
        assert!(!compatible("0.1.0", "garbage"));
        assert!(!compatible("0.1.0", ""));
    }

    #[test]
    fn splits_versioned_names() {
        assert_eq!(
            split_versioned("tributary:connector/source@0.1.0"),
            ("tributary:connector/source", Some("0.1.0"))
        );
        assert_eq!(split_versioned("local:x/y"), ("local:x/y", None));
    }
}
