//! A fake EventBridge that answers `PutEvents` as EventBridge does: one
//! result per request entry, in request order, each an `EventId` or an
//! `ErrorCode`/`ErrorMessage`, with `FailedEntryCount` counting the errors
//! ("PutEvents", Response Elements: "The successfully and unsuccessfully
//! ingested events results ... the results are in the same order as the
//! request entries"). A call can partly fail: that is the case a publisher
//! must handle entry by entry.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// Refuses entries whose `Detail` contains `needle`, the first `times` times
/// it sees each, with `code`.
#[derive(Clone)]
pub struct Refusal {
    pub needle: String,
    pub times: usize,
    pub code: &'static str,
}

pub struct FakeBus {
    pub url: String,
    /// Every PutEvents request body, as sent.
    pub requests: Arc<Mutex<Vec<Value>>>,
    refused: Arc<Mutex<usize>>,
}

impl FakeBus {
    pub fn serve(refusal: Option<Refusal>) -> Self {
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let refused: Arc<Mutex<usize>> = Arc::default();
        let (kept, counted) = (Arc::clone(&requests), Arc::clone(&refused));
        let (listener, url) = super::loopback();
        let server = HttpServer::new(move || {
            let (kept, counted, refusal) =
                (Arc::clone(&kept), Arc::clone(&counted), refusal.clone());
            App::new().default_service(web::to(move |body: web::Bytes| {
                let request: Value = serde_json::from_slice(&body).unwrap_or_default();
                let answer = answer(&request, refusal.as_ref(), &counted);
                kept.lock().unwrap().push(request);
                async move {
                    HttpResponse::Ok()
                        .content_type("application/x-amz-json-1.1")
                        .body(answer.to_string())
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        super::run_in_background(server);
        Self {
            url,
            requests,
            refused,
        }
    }

    /// Every entry sent, in the order sent.
    pub fn entries(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .flat_map(|request| request["Entries"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Entries answered with an error.
    pub fn refused(&self) -> usize {
        *self.refused.lock().unwrap()
    }
}

fn answer(request: &Value, refusal: Option<&Refusal>, refused: &Mutex<usize>) -> Value {
    let entries = request["Entries"].as_array().cloned().unwrap_or_default();
    let mut failed = 0;
    let results: Vec<Value> = entries
        .iter()
        .map(|entry| {
            let detail = entry["Detail"].as_str().unwrap_or_default();
            match refusal {
                Some(refusal) if detail.contains(&refusal.needle) => {
                    let mut count = refused.lock().unwrap();
                    if *count < refusal.times {
                        *count += 1;
                        failed += 1;
                        return json!({"ErrorCode": refusal.code, "ErrorMessage": "refused by the fake"});
                    }
                    json!({"EventId": ulid::Ulid::generate().to_string()})
                }
                _ => json!({"EventId": ulid::Ulid::generate().to_string()}),
            }
        })
        .collect();
    json!({"FailedEntryCount": failed, "Entries": results})
}
