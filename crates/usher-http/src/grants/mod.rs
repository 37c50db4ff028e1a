//! One module per grant type of the token endpoint, and the few rules they share.

pub mod authorization_code;
pub mod client_credentials;
pub mod person_tokens;
pub mod refresh_token;

use actix_web::HttpResponse;
use usher_domain::ProtocolError;
use usher_domain::authorize::RawParams;

use crate::respond::token_error;

/// RFC 8707 resource indicators are supported by `client_credentials` only. The code and
/// refresh grants refuse `resource` (RFC 8707 §2: `invalid_target`) rather than ignore
/// it: a client that asked for a token for one API must not get one for another
/// audience without noticing. Checked before anything is spent.
pub(crate) fn refuse_resource(form: &RawParams) -> Option<HttpResponse> {
    form.iter().any(|(k, _)| k == "resource").then(|| {
        token_error(
            ProtocolError::InvalidTarget,
            "resource is supported only with grant_type=client_credentials",
            false,
        )
    })
}
