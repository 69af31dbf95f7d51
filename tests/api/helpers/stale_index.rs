//! DynamoDB with an index that lags its table, as GSIs do ("Read
//! consistency for global secondary indexes": eventually consistent only).
//! moto's indexes never lag, so this proxy in front of it answers every
//! GSI1 query with the first answer it got for that query, however the
//! table changed since. Everything else goes through untouched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

pub struct StaleIndex {
    pub endpoint: String,
}

impl StaleIndex {
    pub fn serve(upstream: String) -> Self {
        let answers: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>> = Arc::default();
        let client = reqwest::Client::new();
        let (listener, endpoint) = super::loopback();
        let server = HttpServer::new(move || {
            let (answers, client, upstream) =
                (Arc::clone(&answers), client.clone(), upstream.clone());
            App::new().default_service(web::to(move |request: HttpRequest, body: web::Bytes| {
                let (answers, client, upstream) =
                    (Arc::clone(&answers), client.clone(), upstream.clone());
                async move {
                    let index_query = is_gsi1_query(&request, &body);
                    if index_query && let Some(stale) = answers.lock().unwrap().get(body.as_ref()) {
                        return reply(200, stale.clone());
                    }
                    let mut forwarded = client.post(format!("{upstream}{}", request.uri()));
                    for (name, value) in request.headers() {
                        if name != "host" {
                            forwarded = forwarded.header(name.as_str(), value.as_bytes());
                        }
                    }
                    let Ok(answer) = forwarded.body(body.to_vec()).send().await else {
                        return HttpResponse::BadGateway().finish();
                    };
                    let status = answer.status().as_u16();
                    let bytes = answer.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                    if index_query && status == 200 {
                        answers.lock().unwrap().insert(body.to_vec(), bytes.clone());
                    }
                    reply(status, bytes)
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("the proxy listens")
        .run();
        super::run_in_background(server);
        Self { endpoint }
    }
}

fn is_gsi1_query(request: &HttpRequest, body: &[u8]) -> bool {
    let target = request
        .headers()
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    target.ends_with(".Query")
        && serde_json::from_slice::<serde_json::Value>(body)
            .is_ok_and(|query| query["IndexName"] == "GSI1")
}

fn reply(status: u16, body: Vec<u8>) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or_default())
        .content_type("application/x-amz-json-1.0")
        .body(body)
}
