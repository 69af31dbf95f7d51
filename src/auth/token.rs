//! RS256 token verification: signature, issuer, expiry, not-before, and the
//! audience (`aud` on ID tokens, `client_id` on Cognito access tokens).

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::jwks::{KeySet, Lookup};
use super::{AuthError, Groups, Principal};
use crate::config::AuthSettings;
use crate::domain::{AccountId, Username};

/// Clock skew tolerated between the issuer and this service.
const LEEWAY_SECONDS: u64 = 30;

pub struct Verifier {
    keys: std::sync::Arc<KeySet>,
    validation: Validation,
    audiences: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// `email_verified`: a JSON boolean in Cognito's tokens, a string in some
/// other issuers'.
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

impl Flag {
    fn is_true(&self) -> bool {
        matches!(self, Flag::Bool(true)) || matches!(self, Flag::Text(text) if text == "true")
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    /// Cognito's `id` or `access`; each names its audience differently.
    token_use: Option<String>,
    username: Option<String>,
    #[serde(rename = "cognito:username")]
    cognito_username: Option<String>,
    aud: Option<Audience>,
    client_id: Option<String>,
    #[serde(rename = "cognito:groups", default)]
    groups: Vec<String>,
    email: Option<String>,
    email_verified: Option<Flag>,
}

impl Verifier {
    pub async fn start(settings: &AuthSettings) -> anyhow::Result<Self> {
        let AuthSettings::Jwt {
            issuer,
            jwks_url,
            audiences,
            refresh_interval,
        } = settings
        else {
            anyhow::bail!("the verifier needs AUTH_MODE=jwt");
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        // Checked below: Cognito access tokens carry client_id, not aud.
        validation.validate_aud = false;
        Ok(Self {
            keys: KeySet::load(jwks_url.clone(), *refresh_interval).await?,
            validation,
            audiences: audiences.clone(),
        })
    }

    pub async fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("malformed token"))?;
        // The key decides the algorithm: anything but RS256 (none, HS256
        // signed with the public key, ...) is refused before any key is used.
        if header.alg != Algorithm::RS256 {
            return Err(AuthError::Invalid("unsupported algorithm"));
        }
        let kid = header.kid.ok_or(AuthError::Invalid("no key id"))?;
        let key = match self
            .keys
            .get(&kid)
            .await
            .map_err(AuthError::KeysUnavailable)?
        {
            Lookup::Found(key) => key,
            Lookup::Unknown => return Err(AuthError::Invalid("unknown key id")),
        };
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|error| {
                use jsonwebtoken::errors::ErrorKind;
                AuthError::Invalid(match error.kind() {
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::ImmatureSignature => "not yet valid",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::MissingRequiredClaim(_) => "missing claim",
                    _ => "malformed token",
                })
            })?
            .claims;
        // An ID token names its app client in `aud`, an access token in
        // `client_id` (Cognito, "Verifying a JSON Web Token"): each is read
        // where its kind puts it, and no other kind (a refresh token's, a
        // third party's) is taken.
        let audience_ok = match claims.token_use.as_deref() {
            Some("id") => match &claims.aud {
                Some(Audience::One(aud)) => self.audiences.contains(aud),
                Some(Audience::Many(auds)) => auds.iter().any(|aud| self.audiences.contains(aud)),
                None => false,
            },
            Some("access") => claims
                .client_id
                .as_ref()
                .is_some_and(|id| self.audiences.contains(id)),
            Some(_) => return Err(AuthError::Invalid("unsupported token_use")),
            None => return Err(AuthError::Invalid("no token_use claim")),
        };
        if !audience_ok {
            return Err(AuthError::Invalid("wrong audience"));
        }
        let account = claims
            .sub
            .as_deref()
            .and_then(|sub| AccountId::parse(sub).ok())
            .ok_or(AuthError::Invalid("no usable sub claim"))?;
        // Only an ID token vouches for an email: an access token's claims
        // describe what it may do, not who the account is.
        let id_token = claims.token_use.as_deref() == Some("id");
        // Not held to today's rules: it is compared (ASCII case aside),
        // never stored.
        let verified_email = claims
            .email
            .filter(|_| id_token && claims.email_verified.as_ref().is_some_and(Flag::is_true));
        let username = claims
            .username
            .or(claims.cognito_username)
            .ok_or(AuthError::Invalid("no username claim"))?;
        let username = Username::parse(&username)
            .map_err(|_| AuthError::Invalid("unusable username claim"))?;
        let groups = Groups {
            admin: claims.groups.iter().any(|g| g == "admin"),
            fulfilment: claims.groups.iter().any(|g| g == "fulfilment"),
        };
        Ok(Principal {
            username,
            account,
            groups,
            verified_email,
        })
    }
}
