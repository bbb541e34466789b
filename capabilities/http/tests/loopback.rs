//! The HTTP capability against a real server on loopback: credentials inserted by
//! reference, and every denial (origin, redirect, size, count) named.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request as HRequest, Response as HResponse};
use serde_json::{json, Map, Value};
use tributary_capability_http::{
    Allowlist, Auth, HttpError, HttpGrant, HttpPolicy, Method, Request,
};

const TOKEN: &str = "s3cret-token-42";

/// A tiny server: `/ok` wants the bearer token and echoes it back (so masking
/// can be checked), `/basic` wants basic auth, `/redirect?to=URL` redirects,
/// `/big` sends 4 KiB.
async fn serve() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(handle);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

async fn handle(req: HRequest<Incoming>) -> Result<HResponse<Full<Bytes>>, Infallible> {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let reply = |status: u16, body: String| {
        let mut r = HResponse::new(Full::new(Bytes::from(body)));
        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
        r
    };
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    Ok(match path.as_str() {
        "/ok" if auth == format!("Bearer {TOKEN}") => {
            reply(200, format!("hello; you sent {TOKEN}"))
        }
        "/ok" => reply(401, "no".into()),
        // base64("user:pa55word")
        "/basic" if auth == "Basic dXNlcjpwYTU1d29yZA==" => reply(200, "basic ok".into()),
        "/basic" => reply(401, format!("got {auth}")),
        "/redirect" => {
            let to = query.strip_prefix("to=").unwrap_or("/ok").to_string();
            let mut r = reply(302, String::new());
            r.headers_mut()
                .insert("location", to.parse().expect("location"));
            r
        }
        "/big" => reply(200, "x".repeat(4096)),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            reply(200, "late".into())
        }
        _ => reply(404, "not found".into()),
    })
}

fn values() -> Map<String, Value> {
    json!({"token": TOKEN, "username": "user", "password": "pa55word"})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn grant(origins: &[String], f: impl FnOnce(&mut HttpPolicy)) -> HttpGrant {
    let mut p = HttpPolicy {
        allowlist: Allowlist::parse(origins).expect("allowlist"),
        ..HttpPolicy::default()
    };
    f(&mut p);
    HttpGrant::new(values(), Arc::new(p))
}

fn get(url: String, auth: Auth) -> Request {
    Request {
        method: Method::Get,
        url,
        headers: vec![],
        body: None,
        auth,
        timeout: None,
    }
}

fn bearer() -> Auth {
    Auth::Bearer {
        token_key: "token".into(),
    }
}

#[tokio::test]
async fn credentials_by_reference_and_masked_echoes() {
    let a = serve().await;
    let g = grant(&[format!("http://{a}")], |_| {});
    let r = g
        .send(get(format!("http://{a}/ok"), bearer()))
        .await
        .expect("ok");
    assert_eq!(r.status, 200);
    // The server echoed the token: the plugin sees it masked.
    assert_eq!(String::from_utf8_lossy(&r.body), "hello; you sent ********");
    let r = g
        .send(get(format!("http://{a}/ok"), Auth::None))
        .await
        .expect("401 is a response");
    assert_eq!(r.status, 401);
    let basic = Auth::Basic {
        username_key: "username".into(),
        password_key: "password".into(),
    };
    let r = g
        .send(get(format!("http://{a}/basic"), basic))
        .await
        .expect("basic");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"basic ok"[..]));
    // A same-origin redirect is followed.
    let r = g
        .send(get(format!("http://{a}/redirect?to=/ok"), bearer()))
        .await
        .expect("redirect");
    assert_eq!(r.status, 200);
    assert!(r.url.ends_with("/ok"), "{}", r.url);
    // A field that is not set: named.
    let e = g
        .send(get(
            format!("http://{a}/ok"),
            Auth::Bearer {
                token_key: "api_key".into(),
            },
        ))
        .await
        .expect_err("missing");
    assert!(
        matches!(e, HttpError::MissingCredential { ref key } if key == "api_key"),
        "{e}"
    );
    // The plugin cannot set the header the host owns.
    let mut req = get(format!("http://{a}/ok"), bearer());
    req.headers
        .push(("Authorization".into(), "Bearer guess".into()));
    assert!(matches!(
        g.send(req).await,
        Err(HttpError::InvalidHeader { .. })
    ));
    let mut req = get(format!("http://{a}/ok"), Auth::None);
    req.headers.push(("Host".into(), "elsewhere".into()));
    assert!(matches!(
        g.send(req).await,
        Err(HttpError::InvalidHeader { .. })
    ));
}

#[tokio::test]
async fn denials_are_named() {
    let a = serve().await;
    let b = serve().await;
    let g = grant(&[format!("http://{a}")], |p| {
        p.max_response_bytes = 1000;
        p.max_requests_per_job = 8;
        p.request_timeout = Duration::from_millis(500);
    });
    // Origin outside the allowlist (another port of the same host).
    let e = g
        .send(get(format!("http://{b}/ok"), bearer()))
        .await
        .expect_err("origin");
    assert!(matches!(e, HttpError::OriginNotAllowed { .. }), "{e}");
    assert!(e.to_string().contains(&format!("http://{b}")), "{e}");
    // A redirect to it.
    let e = g
        .send(get(
            format!("http://{a}/redirect?to=http://{b}/ok"),
            bearer(),
        ))
        .await
        .expect_err("redirect");
    assert!(matches!(e, HttpError::RedirectNotAllowed { .. }), "{e}");
    assert!(e.to_string().contains(&format!("http://{b}")), "{e}");
    // Oversized.
    let e = g
        .send(get(format!("http://{a}/big"), Auth::None))
        .await
        .expect_err("big");
    assert!(
        matches!(e, HttpError::ResponseTooLarge { limit: 1000, .. }),
        "{e}"
    );
    // Too slow.
    let e = g
        .send(get(format!("http://{a}/slow"), Auth::None))
        .await
        .expect_err("slow");
    assert!(matches!(e, HttpError::Timeout { .. }), "{e}");
    // Not a URL the capability sends to.
    let e = g
        .send(get(format!("http://user:pw@{a}/ok"), Auth::None))
        .await
        .expect_err("userinfo");
    assert!(matches!(e, HttpError::InvalidUrl { .. }), "{e}");
    // The job's request budget: 3 counted so far (the refused origin is not).
    let sent = g.requests();
    for _ in sent..8 {
        g.send(get(format!("http://{a}/ok"), bearer()))
            .await
            .expect("within budget");
    }
    let e = g
        .send(get(format!("http://{a}/ok"), bearer()))
        .await
        .expect_err("limit");
    assert!(matches!(e, HttpError::RequestLimit { limit: 8 }), "{e}");
    // No origins at all: not granted.
    let off = HttpGrant::new(values(), Arc::new(HttpPolicy::default()));
    assert_eq!(
        off.send(get(format!("http://{a}/ok"), bearer()))
            .await
            .expect_err("off"),
        HttpError::NotGranted
    );
}
