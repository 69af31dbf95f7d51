use std::process::ExitCode;
use std::sync::Arc;

use tokio::sync::watch;

use ecommerce_service::Notifier;
use ecommerce_service::config::{self, Cli, CliError, Command, MigrateArgs, Settings};
use ecommerce_service::healthcheck;
use ecommerce_service::http::openapi;
use ecommerce_service::startup::Application;
use ecommerce_service::telemetry;

/// mimalloc: a request allocates and frees many small buffers (the SDK's
/// above all), and glibc's malloc spent a fifth of a call's CPU on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::from_env() {
        Ok(cli) => cli,
        Err(CliError::Usage(usage)) => {
            // --help and --version print and succeed; a mistake prints and fails.
            let _ = usage.print();
            return ExitCode::from(u8::try_from(usage.exit_code()).unwrap_or(2));
        }
        Err(CliError::Config(error)) => {
            eprintln!("configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    match cli.command.clone().unwrap_or(Command::Serve) {
        Command::Serve => serve(cli),
        Command::Healthcheck => healthcheck(cli.settings.port),
        Command::Openapi => {
            print!("{}", openapi::spec_json());
            ExitCode::SUCCESS
        }
        Command::Migrate(args) => migrate(cli, args),
        Command::Preflight => preflight(cli),
        Command::ConfigReference => {
            print!("{}", ecommerce_service::config::reference_markdown());
            ExitCode::SUCCESS
        }
    }
}

/// `preflight`: each thing the table lacks, with its fix, on stdout; exit
/// 1 if anything is missing, 2 if the table cannot be read at all.
fn preflight(cli: Cli) -> ExitCode {
    let settings = match settings(cli) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let logs = telemetry::subscriber(settings.log_format, std::io::stderr, None);
    let _ = tracing::subscriber::set_global_default(logs);
    let checked = actix_web::rt::System::new().block_on(async {
        let store = ecommerce_service::startup::open_store(&settings.store).await?;
        anyhow::Ok(store.table_access().check_table().await?)
    });
    match checked {
        Ok(findings) if findings.is_empty() => {
            println!("preflight: the table has everything the service needs");
            ExitCode::SUCCESS
        }
        Ok(findings) => {
            for finding in &findings {
                println!(
                    "missing: {}
    fix: {}",
                    finding.problem, finding.fix
                );
            }
            println!("preflight: {} thing(s) missing", findings.len());
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!(
                "preflight: cannot check the table: {}",
                ecommerce_service::error_chain(&*error)
            );
            ExitCode::from(2)
        }
    }
}

/// The settings, or the exit code of a configuration error (said on stderr).
fn settings(cli: Cli) -> Result<Settings, ExitCode> {
    config::validate(cli.settings).map_err(|error| {
        eprintln!("configuration error: {error}");
        ExitCode::from(2)
    })
}

/// `migrate`: logs and progress on stderr, the summary (JSON) on stdout.
fn migrate(cli: Cli, args: MigrateArgs) -> ExitCode {
    use ecommerce_service::migrate::{self, MigrateOptions, MigrationProgress, progress};
    let settings = match settings(cli) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let logs = telemetry::subscriber(settings.log_format, std::io::stderr, None);
    let _ = tracing::subscriber::set_global_default(logs);
    let options = MigrateOptions {
        dry_run: args.dry_run,
        delete_orphans: args.delete_orphans,
        max_writes_per_second: Some(args.max_writes_per_second).filter(|&n| n > 0),
        segments: args.segments,
    };
    let progress = Arc::new(MigrationProgress::default());
    let line_interval = std::time::Duration::from_millis(args.progress_interval_ms.max(1));
    let migrated = actix_web::rt::System::new().block_on(async {
        let store = ecommerce_service::startup::open_store(&settings.store).await?;
        let (finished, done) = tokio::sync::oneshot::channel::<()>();
        let shown = progress::show(Arc::clone(&progress), line_interval, async {
            let _ = done.await;
        });
        let run = async {
            let summary = migrate::run(&store, options, Arc::clone(&progress)).await;
            let _ = finished.send(());
            summary
        };
        let (summary, ()) = tokio::join!(run, shown);
        anyhow::Ok(summary?)
    });
    match migrated {
        Ok(summary) => {
            println!("{}", serde_json::json!(summary));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "the migration stopped: {} (run it again to continue from its checkpoint)",
                ecommerce_service::error_chain(&*error)
            );
            ExitCode::FAILURE
        }
    }
}

/// Probes the service on `port` (as the server reads it) for container health checks.
fn healthcheck(port: u16) -> ExitCode {
    match healthcheck::check(port) {
        Ok(()) => ExitCode::SUCCESS,
        Err(reason) => {
            eprintln!("unhealthy: {}", ecommerce_service::error_chain(&reason));
            ExitCode::FAILURE
        }
    }
}

fn serve(cli: Cli) -> ExitCode {
    let settings = match settings(cli) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let _flush_on_exit = match telemetry::init(
        settings.log_format,
        settings.metrics_interval,
        settings.trace_caller_sampled_per_second,
    ) {
        Ok(telemetry) => telemetry,
        Err(error) => {
            eprintln!("cannot set up telemetry: {error:#}");
            return ExitCode::from(2);
        }
    };
    match actix_web::rt::System::new().block_on(run(settings)) {
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

/// Runs the HTTP server and the notification consumer side by side. SIGTERM
/// or SIGINT stops both: the server finishes requests in flight, the
/// consumer the batch in hand. If either stops by itself, so does the process,
/// with an error: never a server left running without its notifications.
async fn run(settings: Settings) -> anyhow::Result<()> {
    let app = Application::build(&settings).await?;
    let notifier = Notifier::build(&settings.notifications, app.store()).await?;
    // Before the line that says we are up: from then on a SIGTERM is graceful.
    let shutdown = shutdown_signal()?;
    tracing::info!(port = app.port(), store = ?settings.store, "listening");
    let handle = app.handle();
    let (stop, stopping) = watch::channel(false);
    let server = app.run_until_stopped();
    let consuming = notifier.is_some();
    let consumer = async {
        match notifier {
            Some(notifier) => notifier.run(stopping).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(server, consumer);
    tokio::select! {
        () = shutdown => {
            tracing::info!("stopping: finishing requests in flight and the batch in hand");
            let _ = stop.send(true);
            // The server future must keep being polled while it stops.
            let drained = tokio::time::timeout(settings.shutdown_timeout, async {
                let ((), served, ()) = tokio::join!(handle.stop(true), &mut server, async {
                    if consuming {
                        (&mut consumer).await;
                    }
                });
                served
            });
            drained.await.map_err(|_| anyhow::anyhow!("shutdown took longer than SHUTDOWN_TIMEOUT"))??;
            Ok(())
        }
        served = &mut server => {
            served?;
            anyhow::bail!("the HTTP server stopped by itself")
        }
        () = &mut consumer => {
            let ((), served) = tokio::join!(handle.stop(true), &mut server);
            served?;
            anyhow::bail!("the notification consumer stopped by itself")
        }
    }
}

/// Takes over SIGTERM and SIGINT now (a signal that arrives before the
/// future is polled is kept, not fatal); the future ends at the first.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
