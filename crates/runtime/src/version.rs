//! Contract versions: which `tributary:connector` versions this host binds and
//! which one a plugin was built against (read from the component itself: the
//! version of its `tributary:connector/source` export).

/// The package name of the contract.
pub const CONTRACT_PACKAGE: &str = "tributary:connector";

/// A contract version the host binds (`wit/vX.Y.Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    V0_1,
    V0_2,
}

/// Every bound version, newest first, with the version its WIT declares.
pub const SUPPORTED: &[(Contract, &str)] = &[(Contract::V0_2, "0.2.0"), (Contract::V0_1, "0.1.0")];

/// The newest contract this host implements, e.g. `0.2.0` (what the SDK builds against).
pub fn host_contract_version() -> &'static str {
    SUPPORTED[0].1
}

/// `0.2.0, 0.1.0`: every version this host runs.
pub fn supported_versions() -> String {
    SUPPORTED
        .iter()
        .map(|(_, v)| *v)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The binding for a plugin built against `plugin`, if this host has one.
pub fn contract_for(plugin: &str) -> Option<Contract> {
    SUPPORTED
        .iter()
        .find(|(_, v)| compatible(v, plugin))
        .map(|(c, _)| *c)
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

/// Whether a plugin built against `plugin` runs on a binding of `host` (semver:
/// same major; for 0.x the same minor).
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

    /// The versions listed here are the ones the WIT folders declare.
    #[test]
    fn supported_versions_match_the_wit_folders() {
        for (_, v) in SUPPORTED {
            let wit = std::fs::read_to_string(format!(
                "{}/../../wit/v{v}/connector.wit",
                env!("CARGO_MANIFEST_DIR")
            ))
            .unwrap_or_else(|e| panic!("wit/v{v}: {e}"));
            assert!(
                wit.contains(&format!("package {CONTRACT_PACKAGE}@{v};")),
                "wit/v{v} declares another version"
            );
        }
        assert_eq!(host_contract_version(), "0.2.0");
    }

    #[test]
    fn picks_the_binding_by_semver() {
        assert_eq!(contract_for("0.2.0"), Some(Contract::V0_2));
        assert_eq!(contract_for("0.2.3"), Some(Contract::V0_2));
        assert_eq!(contract_for("0.1.0"), Some(Contract::V0_1));
        assert_eq!(contract_for("0.1.0-rc.1"), Some(Contract::V0_1));
        assert_eq!(contract_for("0.3.0"), None);
        assert_eq!(contract_for("1.0.0"), None);
        assert_eq!(contract_for("garbage"), None);
        assert_eq!(supported_versions(), "0.2.0, 0.1.0");
    }

    #[test]
    fn semver_rules() {
        assert!(compatible("0.1.3", "0.1.0"));
        assert!(!compatible("0.1.0", "0.2.0"));
        assert!(compatible("1.0.0", "1.4.2"));
        assert!(!compatible("1.0.0", "2.0.0"));
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
