//! The host's authenticated JSON-RPC listener, served as reth serves its engine API: every request
//! carries `Authorization: Bearer <JWT>`, an HS256 token made with a 32-byte secret shared through
//! a file, whose `iat` claim is within ±60 s of the server's clock. Requests without a valid token
//! are answered with HTTP 401 before any method runs.
//!
//! [`JwtSecret`] reads (or creates, mode 0600) the secret file; [`AuthLayer`] is the server-side
//! check; [`AdminClient`] calls the listener with a fresh token per request.

use std::{
    future::Future,
    io::Write as _,
    path::{Path, PathBuf},
    pin::Pin,
    task::{Context, Poll},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use alloy::transports::http::reqwest::{self, Url};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac as _};
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use serde_json::{Value, json};
use sha2::Sha256;

/// How far a token's `iat` may be from the server's clock.
pub const JWT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// The secret file's name under the data dir when no path is given.
pub const DEFAULT_JWT_SECRET_FILE: &str = "jwt.hex";

type HmacSha256 = Hmac<Sha256>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What can go wrong with the secret or a token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The secret file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The secret file does not hold 32 bytes of hex.
    #[error(
        "{path}: expected 64 hex characters (32 bytes), found {found}; remove the file to have a new secret made, or write one with `openssl rand -hex 32`"
    )]
    BadSecret {
        /// The file.
        path: PathBuf,
        /// What it held, described.
        found: String,
    },
    /// The OS gave no randomness.
    #[error("cannot make a secret: {0}")]
    Random(String),
    /// A token is missing or invalid.
    #[error("{0}")]
    Token(String),
}

/// The 32-byte secret shared by the authenticated listener and its clients.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret([u8; 32]);

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(<hidden>)")
    }
}

impl JwtSecret {
    /// A new random secret.
    pub fn random() -> Result<Self, AuthError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// Reads the secret in `path` (64 hex characters, `0x` allowed); a missing file is an
    /// error (clients: only the node makes the secret).
    pub fn read(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| AuthError::Io { path: path.to_path_buf(), source })?;
        Self::parse_file(path, &text)
    }

    /// Reads the secret in `path` (64 hex characters, `0x` allowed); when the file does not
    /// exist, makes one and writes it there with mode 0600 (readable by its owner only).
    pub fn load_or_create(path: &Path) -> Result<Self, AuthError> {
        let io = |source| AuthError::Io { path: path.to_path_buf(), source };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse_file(path, &text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                let secret = Self::random()?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io)?;
                file.write_all(alloy::hex::encode(secret.0).as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                tracing::info!(target: "exex::host", path = %path.display(), "made a new JWT secret for the authenticated RPC");
                Ok(secret)
            }
            Err(err) => Err(io(err)),
        }
    }

    /// Parses the file's text, warning when others than its owner may read it.
    fn parse_file(path: &Path, text: &str) -> Result<Self, AuthError> {
        #[cfg(unix)]
        if let Ok(meta) = std::fs::metadata(path) {
            use std::os::unix::fs::PermissionsExt as _;
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(target: "exex::host", path = %path.display(), "the JWT secret file is readable by others than its owner: chmod 600 it");
            }
        }
        Self::parse(path, text)
    }

    fn parse(path: &Path, text: &str) -> Result<Self, AuthError> {
        let trimmed = text.trim();
        let hex = trimmed.strip_prefix("0x").unwrap_or(trimmed);
        let bad = |found: String| AuthError::BadSecret { path: path.to_path_buf(), found };
        let bytes = alloy::hex::decode(hex).map_err(|e| bad(format!("not hex ({e})")))?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|b: Vec<u8>| bad(format!("{} bytes", b.len())))?;
        Ok(Self(bytes))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length: this cannot fail.
        #[allow(clippy::expect_used)]
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length")
    }

    /// A token for now: HS256, claims `{"iat": <unix seconds>}`.
    pub fn token(&self) -> String {
        self.token_at(unix_now())
    }

    fn token_at(&self, iat: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "typ": "JWT"}).to_string());
        let claims = URL_SAFE_NO_PAD.encode(json!({ "iat": iat }).to_string());
        let signing_input = format!("{header}.{claims}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Checks `token`: the HS256 signature with this secret (compared in constant time), then
    /// an `iat` within [`JWT_MAX_CLOCK_SKEW`] of now.
    pub fn validate(&self, token: &str) -> Result<(), AuthError> {
        self.validate_at(token, unix_now())
    }

    fn validate_at(&self, token: &str, now: u64) -> Result<(), AuthError> {
        let bad = |why: &str| Err(AuthError::Token(why.to_string()));
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return bad("the token is not a JWT (header.claims.signature)");
        };
        let decode = |part: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
        };
        let Some(header_json) = decode(header) else {
            return bad("the token's header is not base64url JSON");
        };
        if header_json.get("alg").and_then(Value::as_str) != Some("HS256") {
            return bad("the token is not signed with HS256");
        }
        let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else {
            return bad("the token's signature is not base64url");
        };
        let mut mac = self.mac();
        mac.update(header.as_bytes());
        mac.update(b".");
        mac.update(claims.as_bytes());
        if mac.verify_slice(&signature).is_err() {
            return bad("the token's signature does not match the secret");
        }
        let Some(iat) = decode(claims).and_then(|c| c.get("iat").and_then(Value::as_u64)) else {
            return bad("the token has no numeric `iat` claim");
        };
        if now.abs_diff(iat) > JWT_MAX_CLOCK_SKEW.as_secs() {
            return Err(AuthError::Token(format!(
                "the token's iat ({iat}) is more than {} s from the server's clock ({now}); make a fresh token per request",
                JWT_MAX_CLOCK_SKEW.as_secs()
            )));
        }
        Ok(())
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Where the host serves its authenticated JSON-RPC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRpcConfig {
    /// The listener's address (port 0: any free port).
    pub addr: std::net::SocketAddr,
    /// The secret file, made (mode 0600) when missing.
    pub jwt_secret: PathBuf,
}

/// The tower layer that answers HTTP 401 to requests without a valid token.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    secret: JwtSecret,
}

impl AuthLayer {
    /// Checks tokens against `secret`.
    pub const fn new(secret: JwtSecret) -> Self {
        Self { secret }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService { inner, secret: self.secret.clone() }
    }
}

/// [`AuthLayer`]'s service.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    secret: JwtSecret,
}

impl<S> tower::Service<HttpRequest> for AuthService<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        let token = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "));
        let verdict = match token {
            Some(token) => self.secret.validate(token),
            None => Err(AuthError::Token(
                "no `Authorization: Bearer <JWT>` header: the admin RPC needs a token made with the --authrpc.jwtsecret file".into(),
            )),
        };
        match verdict {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(err) => {
                metrics::counter!("exex_host_authrpc_unauthorized_total").increment(1);
                tracing::warn!(target: "exex::host", %err, "authenticated RPC: request refused");
                let body = json!({
                    "jsonrpc": "2.0",
                    "id": null,
                    "error": {"code": -32001, "message": format!("unauthorized: {err}")},
                });
                let mut response = HttpResponse::new(HttpBody::from(body.to_string()));
                *response.status_mut() = http::StatusCode::UNAUTHORIZED;
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static("application/json"),
                );
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// What an admin call can end in.
#[derive(Debug, thiserror::Error)]
pub enum AdminCallError {
    /// The listener could not be reached or answered with something that is not JSON-RPC.
    #[error("{url}: {reason}")]
    Transport {
        /// Where.
        url: Url,
        /// Why.
        reason: String,
    },
    /// The listener refused the token (HTTP 401).
    #[error(
        "{url} refused the token: {message}; check that --authrpc.jwtsecret names the node's secret file"
    )]
    Unauthorized {
        /// Where.
        url: Url,
        /// What it said.
        message: String,
    },
    /// The method answered with a JSON-RPC error.
    #[error("{method} failed ({code}): {message}")]
    Rpc {
        /// The method.
        method: String,
        /// The JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
    },
}

/// A client of the authenticated listener: one fresh token per request.
#[derive(Debug, Clone)]
pub struct AdminClient {
    url: Url,
    secret: JwtSecret,
    client: reqwest::Client,
}

impl AdminClient {
    /// A client of the listener at `url`.
    pub fn new(url: Url, secret: JwtSecret) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Self { url, secret, client }
    }

    /// Calls `method` with `params` (a JSON array or object); its result.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, AdminCallError> {
        let transport =
            |reason: String| AdminCallError::Transport { url: self.url.clone(), reason };
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer = self
            .client
            .post(self.url.clone())
            .bearer_auth(self.secret.token())
            .json(&body)
            .send()
            .await
            .map_err(|e| transport(e.to_string()))?;
        let status = answer.status();
        let answer: Value = answer.json().await.map_err(|e| transport(e.to_string()))?;
        let error = answer.get("error");
        let message = || {
            error
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(AdminCallError::Unauthorized { url: self.url.clone(), message: message() });
        }
        if let Some(error) = error {
            return Err(AdminCallError::Rpc {
                method: method.to_string(),
                code: error.get("code").and_then(Value::as_i64).unwrap_or_default(),
                message: message(),
            });
        }
        answer
            .get("result")
            .cloned()
            .ok_or_else(|| transport(format!("not a JSON-RPC answer: {answer}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_need_the_secret_and_a_fresh_iat() {
        let secret = JwtSecret::random().unwrap();
        let now = unix_now();
        secret.validate(&secret.token()).unwrap();
        secret.validate_at(&secret.token_at(now - 60), now).unwrap();
        secret.validate_at(&secret.token_at(now + 60), now).unwrap();
        for stale in [now - 61, now + 61] {
            let err = secret.validate_at(&secret.token_at(stale), now).unwrap_err();
            assert!(err.to_string().contains("iat"), "{err}");
        }
        let other = JwtSecret::random().unwrap();
        assert!(secret.validate(&other.token()).is_err(), "another secret's token");
        let token = secret.token();
        let (head, _) = token.rsplit_once('.').unwrap();
        assert!(secret.validate(&format!("{head}.AAAA")).is_err(), "a forged signature");
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            token.split('.').nth(1).unwrap()
        );
        assert!(secret.validate(&none).is_err(), "alg none");
        assert!(secret.validate("junk").is_err());
    }

    #[test]
    fn the_secret_file_is_made_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("jwt.hex");
        let made = JwtSecret::load_or_create(&path).unwrap();
        assert_eq!(JwtSecret::load_or_create(&path).unwrap(), made);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(JwtSecret::read(&path).unwrap(), made);
        assert!(JwtSecret::read(&dir.path().join("missing.hex")).is_err(), "read never makes one");
        std::fs::write(&path, "0x1234").unwrap();
        let err = JwtSecret::load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("2 bytes") && err.to_string().contains("64 hex"), "{err}");
    }
}
