//! The issuer's signing keys: fetched at start-up, cached, and fetched again
//! on a schedule (so a key the issuer removed stops being trusted within one
//! interval) and when a token names a key we do not know (at most once per
//! interval, so a flood of made-up `kid`s cannot hammer the issuer).
//!
//! A task starts without them if the issuer cannot be reached (a NAT or
//! Cognito blip during a deploy must not roll the deploy back): it serves
//! its health checks, answers every authenticated request with a 503 and
//! `Retry-After` while it retries in the background, and from the first
//! successful fetch on works as if it had had them from the start.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use anyhow::Context;
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use tokio::sync::{Mutex, RwLock};

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The first wait before fetching again after a start-up without keys; it
/// doubles up to the refresh interval.
const FIRST_RETRY: Duration = Duration::from_millis(500);

pub struct KeySet {
    url: String,
    client: reqwest::Client,
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// When an unknown `kid` last caused a fetch; held while fetching (for
    /// any reason) so concurrent requests wait for one fetch instead of each
    /// starting one.
    last_refresh: Mutex<Option<Instant>>,
    refresh_interval: Duration,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kid: Option<String>,
    kty: String,
    #[serde(default)]
    alg: Option<String>,
    #[serde(rename = "use", default)]
    usage: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

pub enum Lookup {
    Found(DecodingKey),
    Unknown,
}

impl KeySet {
    /// Fetches the keys and starts the scheduled refresh, which ends when
    /// the key set is dropped. If the issuer cannot be reached, the set
    /// starts empty and keeps trying in the background (see the module's
    /// documentation): a bad `AUTH_JWKS_URL` is a WARN, not a failed start.
    pub async fn load(url: String, refresh_interval: Duration) -> anyhow::Result<Arc<Self>> {
        // reqwest's rustls needs a process-wide provider; the SDK's is aws-lc-rs.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .context("cannot build the JWKS client")?;
        let set = Self {
            url,
            client,
            keys: RwLock::new(HashMap::new()),
            last_refresh: Mutex::new(None),
            refresh_interval,
        };
        let loaded = match set.fetch().await {
            Ok(keys) => {
                tracing::info!(url = %set.url, keys = keys.len(), "signing keys loaded");
                *set.keys.write().await = keys;
                true
            }
            Err(error) => {
                set.unavailable(&error);
                false
            }
        };
        let set = Arc::new(set);
        tokio::spawn(refresh_on_schedule(
            Arc::downgrade(&set),
            refresh_interval,
            loaded,
        ));
        Ok(set)
    }

    /// Says why no key is in hand: one WARN line and the
    /// `SigningKeysUnavailable` metric per failed fetch.
    fn unavailable(&self, error: &anyhow::Error) {
        tracing::warn!(
            url = %self.url,
            error = format!("{error:#}"),
            "no signing keys yet: authenticated requests answer 503 until a fetch succeeds"
        );
        crate::telemetry::metrics::signing_keys_unavailable();
    }

    /// Whether any key is in hand.
    async fn loaded(&self) -> bool {
        !self.keys.read().await.is_empty()
    }

    pub async fn get(&self, kid: &str) -> anyhow::Result<Lookup> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(Lookup::Found(key.clone()));
        }
        let mut last = self.last_refresh.lock().await;
        // Another request may have refreshed while this one waited.
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(Lookup::Found(key.clone()));
        }
        if last.is_some_and(|at| at.elapsed() < self.refresh_interval) {
            // With no key at all, no token can be judged: retry later, not 401.
            if !self.loaded().await {
                anyhow::bail!("no signing key has been fetched from {} yet", self.url);
            }
            return Ok(Lookup::Unknown);
        }
        *last = Some(Instant::now());
        let keys = self.fetch().await.inspect_err(|error| {
            if !self.keys.try_read().is_ok_and(|keys| !keys.is_empty()) {
                self.unavailable(error);
            }
        })?;
        tracing::info!(url = %self.url, keys = keys.len(), "signing keys refreshed for an unknown kid");
        let found = keys.get(kid).cloned();
        *self.keys.write().await = keys;
        Ok(found.map_or(Lookup::Unknown, Lookup::Found))
    }

    /// The scheduled refresh. A failed fetch keeps the keys in hand (the
    /// issuer being down must not lock every user out) and says so. True
    /// when keys were fetched.
    async fn refresh(&self) -> bool {
        let _fetching = self.last_refresh.lock().await;
        let had_keys = self.loaded().await;
        match self.fetch().await {
            Ok(keys) => {
                if had_keys {
                    tracing::debug!(url = %self.url, keys = keys.len(), "signing keys refreshed on schedule");
                } else {
                    tracing::info!(url = %self.url, keys = keys.len(), "signing keys loaded");
                }
                *self.keys.write().await = keys;
                true
            }
            Err(error) if had_keys => {
                tracing::warn!(url = %self.url, error = format!("{error:#}"),
                    "signing keys could not be refreshed; the keys in hand stay in use");
                false
            }
            Err(error) => {
                self.unavailable(&error);
                false
            }
        }
    }

    async fn fetch(&self) -> anyhow::Result<HashMap<String, DecodingKey>> {
        let document: Document = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .with_context(|| format!("cannot fetch the JWKS from {}", self.url))?
            .json()
            .await
            .with_context(|| format!("{} is not a JWKS document", self.url))?;
        // An issuer that briefly serves no keys must not lock everyone out:
        // a set with no usable key counts as a failed fetch.
        let mut keys = HashMap::new();
        for jwk in document.keys {
            // Only RSA signing keys with an id can verify our RS256 tokens.
            let usable = jwk.kty == "RSA"
                && jwk.alg.as_deref().is_none_or(|alg| alg == "RS256")
                && jwk.usage.as_deref().is_none_or(|usage| usage == "sig");
            let (Some(kid), Some(n), Some(e), true) = (jwk.kid, jwk.n, jwk.e, usable) else {
                continue;
            };
            match DecodingKey::from_rsa_components(&n, &e) {
                Ok(key) => {
                    keys.insert(kid, key);
                }
                Err(error) => {
                    tracing::warn!(%kid, %error, "skipping a JWKS key that does not parse")
                }
            }
        }
        if keys.is_empty() {
            anyhow::bail!("{} holds no usable RS256 signing key", self.url);
        }
        Ok(keys)
    }
}

/// Until the first keys arrive, fetches with a doubling wait from
/// [`FIRST_RETRY`] up to `interval`; then every `interval`.
async fn refresh_on_schedule(keys: Weak<KeySet>, interval: Duration, loaded: bool) {
    let mut wait = FIRST_RETRY.min(interval);
    let mut loaded = loaded;
    while !loaded {
        tokio::time::sleep(wait).await;
        let Some(keys) = keys.upgrade() else { return };
        loaded = keys.loaded().await || keys.refresh().await;
        wait = (wait * 2).min(interval);
    }
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(keys) = keys.upgrade() else { return };
        keys.refresh().await;
    }
}
