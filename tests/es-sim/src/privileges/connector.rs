//! The privilege a Connector API request needs, by Elasticsearch version (rule and sources in
//! `tests/es-sim/PRIVILEGES.md`).
//!
//! 9.x: every endpoint is a cluster action `cluster:admin/xpack/connector/<name>`. Reads of
//! connectors and sync jobs are granted by `monitor_connector`, the other endpoints by
//! `manage_connector`, which explicitly leaves out the four secret actions; those have their own
//! `read_connector_secrets` / `write_connector_secrets`. `manage` and `all` grant everything.
//! Index privileges on the connector indices play no part (the API reads them as the system).
//!
//! 8.x (8.13–8.19): connector and sync-job actions are index actions
//! `indices:data/{read|write}/xpack/connector/<name>` on the connector index they target, so a
//! key with `read` (or `write`) on `.elastic-connectors*` may use them; secrets are cluster
//! actions as in 9.x.

use super::Need;
use crate::store::{CONNECTORS_INDEX, JOBS_INDEX};
use hyper::Method;
use std::borrow::Cow;

/// How an endpoint is guarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Get / list of connectors and sync jobs.
    Monitor,
    /// Every other connector and sync-job endpoint.
    Manage,
    ReadSecret,
    WriteSecret,
}

/// A Connector API endpoint: its action name after `xpack/connector/` and its guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub action: &'static str,
    pub access: Access,
}

/// What the caller's grants are checked against.
pub enum Check {
    Cluster(Need),
    /// An index action on the named concrete index.
    Index(Need, &'static str),
}

// Action names: the `NAME` constants of the actions under
// x-pack/plugin/ent-search/src/main/java/org/elasticsearch/xpack/application/connector/
// (action/, syncjob/action/, secrets/action/).
fn connector_update(action: &str) -> Option<&'static str> {
    Some(match action {
        "_api_key_id" => "update_api_key_id",
        "_check_in" => "update_last_seen",
        "_configuration" => "update_configuration",
        "_error" => "update_error",
        "_features" => "update_features",
        "_filtering" => "update_filtering",
        "_index_name" => "update_index_name",
        "_last_sync" => "update_last_sync_stats",
        "_name" => "update_name",
        "_native" => "update_native",
        "_pipeline" => "update_pipeline",
        "_scheduling" => "update_scheduling",
        "_service_type" => "update_service_type",
        "_status" => "update_status",
        _ => return None,
    })
}

fn sync_job_update(action: &str) -> Option<&'static str> {
    Some(match action {
        "_cancel" => "sync_job/cancel",
        "_check_in" => "sync_job/check_in",
        "_claim" => "sync_job/claim",
        "_error" => "sync_job/update_error",
        "_stats" => "sync_job/update_stats",
        _ => return None,
    })
}

/// The endpoint of `method` on `/_connector/<segs>`; `None` for paths that never reach an action
/// (no handler, or an empty id, which Elasticsearch refuses in validation, before authorization).
pub fn endpoint(method: &Method, segs: &[&str]) -> Option<Endpoint> {
    use Access::*;
    let (get, put, post, del) = (
        method == Method::GET,
        method == Method::PUT,
        method == Method::POST,
        method == Method::DELETE,
    );
    let ep = |action, access| Some(Endpoint { action, access });
    match segs {
        [] if put => ep("put", Manage),
        [] if post => ep("post", Manage),
        [] if get => ep("list", Monitor),
        ["_sync_job"] if post => ep("sync_job/post", Manage),
        ["_sync_job"] if get => ep("sync_job/list", Monitor),
        ["_sync_job", "", ..] => None,
        ["_sync_job", _] if get => ep("sync_job/get", Monitor),
        ["_sync_job", _] if del => ep("sync_job/delete", Manage),
        ["_sync_job", _, action] if put => ep(sync_job_update(action)?, Manage),
        ["_secret"] if post => ep("secret/post", WriteSecret),
        ["_secret", _] if get => ep("secret/get", ReadSecret),
        ["_secret", _] if put => ep("secret/put", WriteSecret),
        ["_secret", _] if del => ep("secret/delete", WriteSecret),
        ["", ..] => None,
        [_] if put => ep("put", Manage),
        [_] if get => ep("get", Monitor),
        [_] if del => ep("delete", Manage),
        [_, "_filtering", "_validation"] if put => ep("update_filtering/draft_validation", Manage),
        [_, "_filtering", "_activate"] if put => ep("update_filtering/activate", Manage),
        [_, action] if put => ep(connector_update(action)?, Manage),
        _ => None,
    }
}

// Cluster privileges granting each kind, least privileged first as Elasticsearch lists them:
// x-pack/plugin/core/src/main/java/org/elasticsearch/xpack/core/security/authz/privilege/
// ClusterPrivilegeResolver.java (MONITOR_CONNECTOR_PATTERN, MANAGE_CONNECTOR minus
// CONNECTOR_SECRETS_PATTERN, READ_/WRITE_CONNECTOR_SECRETS_PATTERN; MANAGE is cluster:* minus
// security actions, so it grants them all).
const MONITOR: &[&str] = &["monitor_connector", "manage_connector", "manage", "all"];
const MANAGE: &[&str] = &["manage_connector", "manage", "all"];
const READ_SECRET: &[&str] = &["read_connector_secrets", "manage", "all"];
const WRITE_SECRET: &[&str] = &["write_connector_secrets", "manage", "all"];
const INDEX_READ: &[&str] = &["read", "all"];
const INDEX_WRITE: &[&str] = &["write", "all"];

/// The check for `ep` on a server of major version `major`.
pub fn check(major: u32, ep: Endpoint) -> Check {
    let cluster = |privileges| {
        Check::Cluster(Need {
            action: Cow::Owned(format!("cluster:admin/xpack/connector/{}", ep.action)),
            privileges,
        })
    };
    match ep.access {
        Access::ReadSecret => cluster(READ_SECRET),
        Access::WriteSecret => cluster(WRITE_SECRET),
        Access::Monitor if major >= 9 => cluster(MONITOR),
        Access::Manage if major >= 9 => cluster(MANAGE),
        access => {
            let (verb, privileges) = if access == Access::Monitor {
                ("read", INDEX_READ)
            } else {
                ("write", INDEX_WRITE)
            };
            let index = if ep.action.starts_with("sync_job/") {
                JOBS_INDEX
            } else {
                CONNECTORS_INDEX
            };
            Check::Index(
                Need {
                    action: Cow::Owned(format!(
                        "indices:data/{verb}/xpack/connector/{}",
                        ep.action
                    )),
                    privileges,
                },
                index,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(method: Method, path: &str) -> Option<Endpoint> {
        let segs: Vec<&str> = path.split('/').skip(1).collect();
        endpoint(&method, if path.is_empty() { &[] } else { &segs })
    }

    #[test]
    fn endpoints_map_to_elasticsearch_actions() {
        let name = |m, p| ep(m, p).map(|e| (e.action, e.access));
        assert_eq!(name(Method::GET, ""), Some(("list", Access::Monitor)));
        assert_eq!(name(Method::GET, "/c1"), Some(("get", Access::Monitor)));
        assert_eq!(
            name(Method::PUT, "/c1/_check_in"),
            Some(("update_last_seen", Access::Manage))
        );
        assert_eq!(
            name(Method::GET, "/_sync_job/j"),
            Some(("sync_job/get", Access::Monitor))
        );
        assert_eq!(
            name(Method::PUT, "/_sync_job/j/_stats"),
            Some(("sync_job/update_stats", Access::Manage))
        );
        assert_eq!(
            name(Method::GET, "/_secret/s"),
            Some(("secret/get", Access::ReadSecret))
        );
        assert_eq!(
            name(Method::PUT, "/_secret/s"),
            Some(("secret/put", Access::WriteSecret))
        );
        assert_eq!(
            name(Method::PUT, "//_name"),
            None,
            "empty id: validation first"
        );
        assert_eq!(name(Method::PUT, "/c1/_nope"), None);
    }

    #[test]
    fn version_decides_cluster_or_index_action() {
        let get = ep(Method::GET, "/_sync_job/j").unwrap();
        match check(9, get) {
            Check::Cluster(n) => {
                assert_eq!(n.action, "cluster:admin/xpack/connector/sync_job/get");
                assert_eq!(n.privileges, MONITOR);
            }
            Check::Index(..) => panic!("9.x uses cluster privileges"),
        }
        match check(8, get) {
            Check::Index(n, ix) => {
                assert_eq!(n.action, "indices:data/read/xpack/connector/sync_job/get");
                assert_eq!(ix, JOBS_INDEX);
            }
            Check::Cluster(_) => panic!("8.x uses index privileges"),
        }
        let secret = ep(Method::DELETE, "/_secret/s").unwrap();
        assert!(matches!(check(8, secret), Check::Cluster(n) if n.privileges == WRITE_SECRET));
    }
}
