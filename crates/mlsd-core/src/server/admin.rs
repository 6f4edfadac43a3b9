//! The admin routes — promote and roll back the serving model — and who may call them.
//!
//! Talking point (security): changing the model in production is a privileged action. The
//! routes are off unless the server was started with an admin token (`--admin-token-file`
//! or `MLSD_ADMIN_TOKEN`); then a request must carry `Authorization: Bearer <token>`: 401
//! without it, 403 with another. Every attempt is logged (target `mlsd::admin`) with its
//! outcome, the caller's address and request id, and the `x-reason` the caller gave.
//! `mlsd models promote|rollback` on the registry itself needs no token: it takes write
//! access to the registry folder, which is the stronger credential.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use super::{ModelAdmin, Ops, RolloutStatus, ServingResponse};
use crate::serve::{ApiError, ErrorBody, RequestId, Shed};

/// The secret the admin routes require. Its `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// The least a token may hold; a short one is refused at start, not guessed later.
    pub const MIN_LEN: usize = 16;

    /// A token of at least [`Self::MIN_LEN`] visible ASCII characters (surrounding
    /// whitespace, e.g. a file's newline, is dropped).
    pub fn parse(text: &str) -> Result<AdminToken, String> {
        let token = text.trim();
        if token.len() < Self::MIN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "an admin token is at least {} visible ASCII characters (no spaces)",
                Self::MIN_LEN
            ));
        }
        Ok(AdminToken(token.to_string()))
    }

    /// Equal to `given`, compared in time that does not depend on where they differ.
    fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// 403 when the routes are off, 401 without a bearer token, 403 with the wrong one.
fn authorize(token: Option<&AdminToken>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "the admin routes are off: start the server with --admin-token-file or MLSD_ADMIN_TOKEN",
        ));
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "an admin route needs `Authorization: Bearer <admin token>`",
        )),
        Some(given) if token.matches(given.trim()) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the admin token is not the one this server was started with",
        )),
    }
}

/// Who asked, read off the request before anything awaits (a request body is not `Sync`).
struct Caller {
    authorized: Result<(), ApiError>,
    path: String,
    peer: Option<String>,
    request_id: Option<String>,
    reason: Option<String>,
}

impl Caller {
    fn of(ops: &Ops, req: &Request) -> Caller {
        let headers = req.headers();
        Caller {
            authorized: authorize(ops.admin_token.as_ref(), headers),
            path: req.uri().path().to_string(),
            peer: req
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.to_string()),
            request_id: req
                .extensions()
                .get::<RequestId>()
                .map(|id| id.as_str().to_string()),
            reason: headers
                .get("x-reason")
                .and_then(|v| v.to_str().ok())
                .map(|r| r.chars().take(200).collect()),
        }
    }
}

/// Checks the caller, runs the change off the runtime, and logs who asked for what and why.
async fn admin_action<T: Send + 'static>(
    ops: &Ops,
    caller: Caller,
    action: &'static str,
    change: impl FnOnce(Arc<dyn ModelAdmin>) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let outcome = match caller.authorized {
        Ok(()) => {
            let models = ops.models.clone();
            tokio::task::spawn_blocking(move || change(models))
                .await
                .map_err(ApiError::internal)
                .and_then(|r| r)
        }
        Err(e) => Err(e),
    };
    let result = outcome.as_ref().map_or_else(|e| e.code, |_| "done");
    let Caller {
        path,
        peer,
        request_id,
        reason,
        ..
    } = caller;
    tracing::info!(target: "mlsd::admin", action, %path, result, peer, request_id, reason, "admin action");
    outcome
}

/// Promotes a registry version and swaps it in (atomically; in-flight requests finish with
/// the old model). The version is loaded and checked first: a refusal changes nothing.
#[utoipa::path(post, path = "/admin/models/{version}/promote", tag = "models",
    params(("version" = String, Path, description = "Registry version: `v` and four or more digits, e.g. v0002", pattern = "^v[0-9]{4,}$"),
           ("x-reason" = Option<String>, Header, description = "Why, for the log (first 200 characters)")),
    security(("admin_token" = [])),
    responses((status = 200, description = "Serving the promoted version", body = ServingResponse),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Wrong token, or the admin routes are off", body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 409, description = "The version does not verify or cannot be served", body = ErrorBody), Shed))]
pub(super) async fn promote(
    State(ops): State<Arc<Ops>>,
    Path(version): Path<String>,
    req: Request,
) -> Result<Json<ServingResponse>, ApiError> {
    let caller = Caller::of(&ops, &req);
    drop(req);
    admin_action(&ops, caller, "promote", move |models| {
        models.promote(&version)
    })
    .await
    .map(|serving| Json(ServingResponse { serving }))
}

/// Moves `current` back to the previously promoted version and swaps it in.
#[utoipa::path(post, path = "/admin/models/rollback", tag = "models",
    params(("x-reason" = Option<String>, Header, description = "Why, for the log (first 200 characters)")),
    security(("admin_token" = [])),
    responses((status = 200, description = "Serving the previous version", body = ServingResponse),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Wrong token, or the admin routes are off", body = ErrorBody),
        (status = 409, description = "Nothing to roll back to", body = ErrorBody), Shed))]
pub(super) async fn rollback(
    State(ops): State<Arc<Ops>>,
    req: Request,
) -> Result<Json<ServingResponse>, ApiError> {
    let caller = Caller::of(&ops, &req);
    drop(req);
    admin_action(&ops, caller, "rollback", |models| models.rollback())
        .await
        .map(|serving| Json(ServingResponse { serving }))
}

/// Starts a safe rollout of a registry version: shadow (it scores copies of the requests,
/// its answers are never returned), then canary steps by entity hash, then promoted — or
/// rejected / rolled back automatically when a gate breaks (error rate, p99 latency,
/// disagreement with the serving model). Each move is in `GET /admin/rollout`.
#[utoipa::path(post, path = "/admin/models/{version}/rollout", tag = "models",
    params(("version" = String, Path, description = "Registry version: `v` and four or more digits, e.g. v0002", pattern = "^v[0-9]{4,}$"),
           ("x-reason" = Option<String>, Header, description = "Why, for the log (first 200 characters)")),
    security(("admin_token" = [])),
    responses((status = 200, description = "The candidate is in shadow", body = RolloutStatus),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Wrong token, or the admin routes are off", body = ErrorBody),
        (status = 404, description = "No such version", body = ErrorBody),
        (status = 409, description = "A rollout is running, or the version cannot be served", body = ErrorBody), Shed))]
pub(super) async fn start_rollout(
    State(ops): State<Arc<Ops>>,
    Path(version): Path<String>,
    req: Request,
) -> Result<Json<RolloutStatus>, ApiError> {
    let caller = Caller::of(&ops, &req);
    drop(req);
    admin_action(&ops, caller, "rollout", move |models| {
        models.start_rollout(&version)
    })
    .await
    .map(Json)
}

/// The rollout running now (if any) and every rollout decision this registry logged.
#[utoipa::path(get, path = "/admin/rollout", tag = "models",
    security(("admin_token" = [])),
    responses((status = 200, description = "Candidate, stage and decision log", body = RolloutStatus),
        (status = 401, description = "No bearer token", body = ErrorBody),
        (status = 403, description = "Wrong token, or the admin routes are off", body = ErrorBody), Shed))]
pub(super) async fn rollout_status(
    State(ops): State<Arc<Ops>>,
    req: Request,
) -> Result<Json<RolloutStatus>, ApiError> {
    let caller = Caller::of(&ops, &req);
    drop(req);
    caller.authorized?;
    let models = ops.models.clone();
    tokio::task::spawn_blocking(move || models.rollout_status())
        .await
        .map_err(ApiError::internal)?
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_or_spaced_tokens_are_refused_and_debug_hides_the_token() {
        assert!(AdminToken::parse("short").is_err());
        assert!(AdminToken::parse("sixteen chars ok").is_err(), "spaces");
        let token = AdminToken::parse("  0123456789abcdef\n").expect("16 characters");
        assert!(!format!("{token:?}").contains("0123"));
        assert!(token.matches("0123456789abcdef"));
        assert!(!token.matches("0123456789abcdeF"));
        assert!(!token.matches("0123456789abcde"));
    }

    #[test]
    fn off_without_a_token_401_without_a_header_403_with_another() {
        let token = AdminToken::parse("0123456789abcdef").expect("token");
        let mut headers = HeaderMap::new();
        let status = |t, h: &HeaderMap| authorize(t, h).map_err(|e| (e.status.as_u16(), e.code));
        assert_eq!(status(None, &headers), Err((403, "admin_disabled")));
        assert_eq!(status(Some(&token), &headers), Err((401, "unauthorized")));
        headers.insert(
            "authorization",
            "Bearer 0123456789abcdeX".parse().expect("header"),
        );
        assert_eq!(status(Some(&token), &headers), Err((403, "forbidden")));
        headers.insert(
            "authorization",
            "Bearer 0123456789abcdef".parse().expect("header"),
        );
        assert_eq!(status(Some(&token), &headers), Ok(()));
    }
}
