use std::process::ExitCode;

use ecommerce_service::config::Settings;
use ecommerce_service::healthcheck;
use ecommerce_service::http::openapi;
use ecommerce_service::startup::Application;
use ecommerce_service::telemetry;

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None | Some("serve") => serve(),
        Some("healthcheck") => healthcheck(),
        Some("openapi") => {
            print!("{}", openapi::spec_json());
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!(
                "unknown command {other:?}; usage: ecommerce-service [serve|healthcheck|openapi]"
            );
            ExitCode::from(2)
        }
    }
}

/// Probes the service on `PORT` (as the server reads it) for container health checks.
fn healthcheck() -> ExitCode {
    let port = match Settings::from_env() {
        Ok(settings) => settings.port,
        Err(error) => {
            eprintln!("configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    match healthcheck::check(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("unhealthy: {reason}");
            ExitCode::FAILURE
        }
    }
}

fn serve() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    let _flush_logs_on_exit = telemetry::init(settings.log_format);
    let outcome = actix_web::rt::System::new().block_on(async {
        let app = Application::build(&settings).await?;
        tracing::info!(port = app.port(), store = ?settings.store, "listening");
        app.run_until_stopped().await?;
        anyhow::Ok(())
    });
    match outcome {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error = ?error, "the service failed");
            ExitCode::FAILURE
        }
    }
}
