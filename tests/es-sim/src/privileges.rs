//! Authorization of API keys created with `role_descriptors`: the cluster and index privileges
//! a request needs, and Elasticsearch's 403 `security_exception` when the key lacks them.
//!
//! The owner (`elastic`) is a superuser, so a key without role descriptors may do anything; a
//! key with them is limited to their union, as Elasticsearch limits it to the intersection
//! with its owner's. Concrete index names are checked; a wildcard expression is let through
//! (Elasticsearch would silently narrow it to the authorized indices — es-sim does not).

mod connector;

use crate::http::{EsError, Req};
use crate::store::glob;
use hyper::Method;
use serde_json::Value;
use std::borrow::Cow;

/// What a role-limited key was granted.
#[derive(Debug, Default)]
pub struct Grants {
    cluster: Vec<String>,
    indices: Vec<(Vec<String>, Vec<String>)>,
}

/// A string or an array of strings, as Elasticsearch accepts for names, privileges and fields.
pub fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => vec![],
    }
}

impl Grants {
    /// `None` when the descriptors are empty: the key then has its owner's privileges.
    pub fn from_role_descriptors(rd: &Value) -> Option<Grants> {
        let roles = rd.as_object().filter(|o| !o.is_empty())?;
        let mut g = Grants::default();
        for role in roles.values() {
            g.cluster.extend(strings(role.get("cluster")));
            for ix in role
                .get("indices")
                .and_then(|i| i.as_array())
                .into_iter()
                .flatten()
            {
                g.indices
                    .push((strings(ix.get("names")), strings(ix.get("privileges"))));
            }
        }
        Some(g)
    }

    pub fn has_cluster(&self, wanted: &[&str]) -> bool {
        self.cluster.iter().any(|c| wanted.contains(&c.as_str()))
    }

    pub fn has_index(&self, index: &str, wanted: &[&str]) -> bool {
        self.indices.iter().any(|(names, privs)| {
            names.iter().any(|n| glob(n, index))
                && privs.iter().any(|p| wanted.contains(&p.as_str()))
        })
    }
}

/// The privileges that include `p` (itself, and the broader ones), for `_has_privileges`.
pub fn granted_by(p: &str) -> Vec<&str> {
    let broader: &[&str] = match p {
        "index" | "create" | "create_doc" | "delete" => &["write", "all"],
        "read" | "write" | "manage" | "manage_own_api_key" => &["all"],
        "view_index_metadata" | "create_index" | "delete_index" | "maintenance" | "monitor" => {
            &["manage", "all"]
        }
        // manage_connector covers monitor_connector but not the secret privileges.
        "monitor_connector" => &["manage_connector", "manage", "all"],
        "manage_connector" | "read_connector_secrets" | "write_connector_secrets" => {
            &["manage", "all"]
        }
        _ => &["all"],
    };
    let mut v = vec![p];
    v.extend_from_slice(broader);
    v
}

/// An action and the privileges any one of which grants it.
pub struct Need {
    pub action: Cow<'static, str>,
    pub privileges: &'static [&'static str],
}

const WRITE_ITEM: Need = Need {
    action: Cow::Borrowed("indices:data/write/bulk[s]"),
    privileges: &["create_doc", "create", "delete", "index", "write", "all"],
};

fn who(req: &Req) -> String {
    match &req.principal.api_key {
        Some((id, _)) => format!("API key id [{id}] of user [{}]", req.principal.username),
        None => format!("user [{}]", req.principal.username),
    }
}

pub fn cluster_denied(req: &Req, n: &Need) -> EsError {
    EsError::new(
        403,
        "security_exception",
        format!(
            "action [{}] is unauthorized for {}, this action is granted by the cluster privileges [{}]",
            n.action,
            who(req),
            n.privileges.join(",")
        ),
    )
}

pub fn index_denied(req: &Req, n: &Need, index: &str) -> EsError {
    EsError::new(
        403,
        "security_exception",
        format!(
            "action [{}] is unauthorized for {} on indices [{index}], this action is granted by the index privileges [{}]",
            n.action,
            who(req),
            n.privileges.join(",")
        ),
    )
}

/// The per-item check of `_bulk` (the request itself needs no index privilege).
pub fn check_bulk_item(req: &Req, index: &str) -> Result<(), EsError> {
    match &req.principal.grants {
        Some(g) if !g.has_index(index, WRITE_ITEM.privileges) => {
            Err(index_denied(req, &WRITE_ITEM, index))
        }
        _ => Ok(()),
    }
}

/// The index privilege of a request on `/{index}/...`, if it needs one.
fn index_need(method: &Method, rest: &[&str]) -> Option<Need> {
    let m = method;
    let (get, head, del) = (m == Method::GET, m == Method::HEAD, m == Method::DELETE);
    let need = |action, privileges| Need {
        action: Cow::Borrowed(action),
        privileges,
    };
    let read = |action| need(action, &["read", "all"]);
    let meta = |action| need(action, &["view_index_metadata", "manage", "all"]);
    Some(match rest {
        ["_search"] => read("indices:data/read/search"),
        ["_count"] => read("indices:data/read/count"),
        ["_pit"] => read("indices:data/read/open_point_in_time"),
        ["_doc", _] | ["_source", _] if get || head => read("indices:data/read/get"),
        ["_doc", _] if del => need("indices:data/write/delete", &["delete", "write", "all"]),
        ["_delete_by_query"] => need(
            "indices:data/write/delete/byquery",
            &["delete", "write", "all"],
        ),
        ["_doc"] | ["_doc", _] | ["_create", _] => need(
            "indices:data/write/index",
            &["create_doc", "create", "index", "write", "all"],
        ),
        ["_update", _] => need("indices:data/write/update", &["index", "write", "all"]),
        ["_refresh"] => need("indices:admin/refresh", &["maintenance", "manage", "all"]),
        ["_mapping"] if get => meta("indices:admin/mappings/get"),
        ["_mapping"] => need("indices:admin/mapping/put", &["manage", "all"]),
        ["_settings"] => meta("indices:monitor/settings/get"),
        ["_stats"] => need("indices:monitor/stats", &["monitor", "manage", "all"]),
        ["_alias", _] | ["_aliases", _] => need("indices:admin/aliases", &["manage", "all"]),
        [] if get || head => meta("indices:admin/get"),
        [] if del => need("indices:admin/delete", &["delete_index", "manage", "all"]),
        [] => need("indices:admin/create", &["create_index", "manage", "all"]),
        _ => return None,
    })
}

/// Checks a request before it is dispatched; `_bulk` items are checked one by one later.
/// `major` is the emulated Elasticsearch major version (the Connector API rule changed in 9.0).
pub fn authorize(major: u32, req: &Req, segs: &[&str]) -> Result<(), EsError> {
    let Some(g) = &req.principal.grants else {
        return Ok(());
    };
    match segs {
        ["_connector", rest @ ..] => {
            let Some(ep) = connector::endpoint(&req.method, rest) else {
                return Ok(());
            };
            match connector::check(major, ep) {
                connector::Check::Cluster(n) if !g.has_cluster(n.privileges) => {
                    return Err(cluster_denied(req, &n));
                }
                connector::Check::Index(n, index) if !g.has_index(index, n.privileges) => {
                    return Err(index_denied(req, &n, index));
                }
                _ => {}
            }
        }
        ["_security", "api_key"] if req.method != Method::GET => {
            let n = Need {
                action: Cow::Borrowed("cluster:admin/xpack/security/api_key/create"),
                privileges: &[
                    "manage_own_api_key",
                    "manage_api_key",
                    "manage_security",
                    "all",
                ],
            };
            if !g.has_cluster(n.privileges) {
                return Err(cluster_denied(req, &n));
            }
        }
        [ix, rest @ ..] if !ix.starts_with('_') => {
            if let Some(n) = index_need(&req.method, rest) {
                for name in ix.split(',').filter(|n| !n.contains('*')) {
                    if !g.has_index(name, n.privileges) {
                        return Err(index_denied(req, &n, name));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn grants_are_the_union_of_the_roles() {
        let g = Grants::from_role_descriptors(&json!({
            "a": {"cluster": ["monitor"], "indices": [{"names": ["music", ".elastic-connectors*"], "privileges": ["all"]}]},
            "b": {"indices": [{"names": "logs-*", "privileges": ["read"]}]}
        }))
        .unwrap();
        assert!(g.has_cluster(&["monitor"]));
        assert!(!g.has_cluster(&["manage_connector"]));
        assert!(g.has_index("music", &["write", "all"]));
        assert!(g.has_index(".elastic-connectors-v1", &["all"]));
        assert!(g.has_index("logs-1", &["read"]));
        assert!(!g.has_index("logs-1", &["write"]));
        assert!(!g.has_index("other", &["read", "all"]));
        assert!(Grants::from_role_descriptors(&json!({})).is_none());
        assert!(Grants::from_role_descriptors(&Value::Null).is_none());
    }
}
