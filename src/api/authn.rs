//! The authentication interceptor: every call to a protected service must carry
//! `authorization: Bearer <access token>`; the verified [`Caller`] rides in the request's
//! extensions to the handler.

use std::sync::Arc;

use tonic::service::Interceptor;
use tonic::{Request, Status};

use crate::auth::{AuthError, Caller, TokenVerifier};

/// The interceptor: verifies the bearer token of every call and puts the [`Caller`] in
/// the request's extensions, or refuses the call with UNAUTHENTICATED.
#[derive(Clone)]
pub struct Authenticate {
    verifier: Arc<TokenVerifier>,
}

impl Authenticate {
    /// An interceptor verifying with `verifier` (shared, so JWKS refreshes reach it).
    pub fn new(verifier: Arc<TokenVerifier>) -> Self {
        Self { verifier }
    }
}

impl Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let token = request
            .metadata()
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token)
            .ok_or(AuthError::MissingToken)?;
        let caller = self.verifier.verify(token).inspect_err(|error| {
            tracing::info!(%error, "call refused");
        })?;
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The token of an `authorization` value using the Bearer scheme (case-insensitive).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The caller the interceptor verified.
pub fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| AuthError::MissingToken.into())
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_tokens_are_found_whatever_the_scheme_case() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
