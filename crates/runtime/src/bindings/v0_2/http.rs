//! The `http` import of contract 0.2: the outbound HTTP capability crate, bound.

use std::time::Duration;

use tributary_capability_http as http;

use super::super::super::state::HostState;
pub use super::tributary::connector::http as wit_http;

fn http_error(e: http::HttpError) -> wit_http::HttpError {
    use wit_http::HttpErrorKind as K;
    let kind = match &e {
        http::HttpError::NotGranted => K::NotGranted,
        http::HttpError::InvalidUrl { .. } => K::InvalidUrl,
        http::HttpError::OriginNotAllowed { .. } => K::OriginNotAllowed,
        http::HttpError::RedirectNotAllowed { .. } => K::RedirectNotAllowed,
        http::HttpError::TooManyRedirects { .. } => K::TooManyRedirects,
        http::HttpError::ResponseTooLarge { .. } => K::ResponseTooLarge,
        http::HttpError::Timeout { .. } => K::Timeout,
        http::HttpError::RequestLimit { .. } => K::RequestLimit,
        http::HttpError::MissingCredential { .. } => K::MissingCredential,
        http::HttpError::InvalidHeader { .. } => K::InvalidHeader,
        http::HttpError::Connection { .. } => K::Connection,
    };
    wit_http::HttpError {
        kind,
        message: e.to_string(),
    }
}

impl wit_http::Host for HostState {
    async fn send(
        &mut self,
        request: wit_http::Request,
    ) -> wasmtime::Result<Result<wit_http::Response, wit_http::HttpError>> {
        let Some(grant) = self.grants.http.clone() else {
            return Ok(Err(http_error(http::HttpError::NotGranted)));
        };
        let req = http::Request {
            method: match request.method {
                wit_http::Method::Get => http::Method::Get,
                wit_http::Method::Post => http::Method::Post,
                wit_http::Method::Head => http::Method::Head,
            },
            url: request.url,
            headers: request.headers,
            body: request.body,
            auth: match request.auth {
                wit_http::Auth::None => http::Auth::None,
                wit_http::Auth::Bearer(token_key) => http::Auth::Bearer { token_key },
                wit_http::Auth::Basic((username_key, password_key)) => http::Auth::Basic {
                    username_key,
                    password_key,
                },
            },
            timeout: request
                .timeout_ms
                .map(|ms| Duration::from_millis(u64::from(ms))),
        };
        match grant.send(req).await {
            Ok(r) => Ok(Ok(wit_http::Response {
                status: r.status,
                url: r.url,
                headers: r.headers,
                body: r.body,
            })),
            Err(e) => {
                tracing::warn!(plugin = %self.plugin, error = %e, kind = e.kind(), "http request refused or failed");
                Ok(Err(http_error(e)))
            }
        }
    }
}
