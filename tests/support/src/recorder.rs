//! A fake HTTP endpoint that keeps what is POSTed to it.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};

/// A fake HTTP endpoint that keeps the bodies POSTed to `path` and answers
/// each with `answer`: an OTLP collector.
pub struct Recorder {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Recorder {
    pub fn serve(path: &'static str, content_type: &'static str, answer: &'static str) -> Self {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&bodies);
        let (listener, url) = super::loopback();
        let server = HttpServer::new(move || {
            let kept = Arc::clone(&kept);
            App::new().route(
                path,
                web::post().to(move |body: web::Bytes| {
                    kept.lock().unwrap().push(body.to_vec());
                    async move { HttpResponse::Ok().content_type(content_type).body(answer) }
                }),
            )
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        super::run_in_background(server);
        Self { url, bodies }
    }
}
