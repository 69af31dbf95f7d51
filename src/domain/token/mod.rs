//! The one format of every page token: a JSON object holding the format's
//! version and what the token pages, in base64url without padding. Opaque to
//! clients; on the way in, serde checks the structure (unknown fields
//! refused, so a token of one kind never reads as another) and the domain
//! parsers check the values, which must be in the form this service writes.
//! Versions 1 to 3 were binary; tokens issued in them still read
//! ([`legacy`]).

pub(super) mod legacy;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ParseError;

/// The version of the JSON format.
const VERSION: u8 = 4;

#[derive(Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<T> {
    v: u8,
    t: T,
}

pub(super) fn encode(body: impl Serialize) -> String {
    let envelope = Envelope {
        v: VERSION,
        t: body,
    };
    // Plain strings and lists of them: serializing cannot fail.
    let json = serde_json::to_vec(&envelope).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// What a token holds, if it is one of ours: `Ok(None)` for a token of an
/// earlier (binary) version, whose bytes the caller reads with [`legacy`].
pub(super) fn decode<T: DeserializeOwned>(raw: &str) -> Result<Decoded<T>, ParseError> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    match bytes.first() {
        Some(b'{') => {
            let envelope: Envelope<T> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
            if envelope.v != VERSION {
                return Err(invalid());
            }
            Ok(Decoded::Current(envelope.t))
        }
        Some(_) => Ok(Decoded::Legacy(bytes)),
        None => Err(invalid()),
    }
}

pub(super) enum Decoded<T> {
    Current(T),
    /// The bytes of a binary token (versions 1 to 3).
    Legacy(Vec<u8>),
}

pub(super) fn invalid() -> ParseError {
    ParseError::new("is not a token this service issued for this listing")
}

/// Parses `text` with `parse`, accepting only the form this service writes
/// (`written` of the value), so no two tokens name one position.
pub(super) fn exactly<T>(
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
    written: impl FnOnce(&T) -> String,
) -> Result<T, ParseError> {
    let value = parse(text).map_err(|_| invalid())?;
    if written(&value) == text {
        Ok(value)
    } else {
        Err(invalid())
    }
}
