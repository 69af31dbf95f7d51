//! A migration's progress on stderr: a bar redrawn in place on a terminal,
//! a line every few seconds otherwise (a log collector keeps each line).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::MigrationProgress;

const BAR_WIDTH: u64 = 30;
const REDRAW: Duration = Duration::from_millis(200);

/// Shows `progress` until `done` resolves, then a last report.
pub async fn show(
    progress: Arc<MigrationProgress>,
    line_interval: Duration,
    done: impl Future<Output = ()>,
) {
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut ticks = tokio::time::interval(if terminal { REDRAW } else { line_interval });
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // The first tick is immediate: nothing to say yet.
    ticks.tick().await;
    tokio::pin!(done);
    loop {
        tokio::select! {
            () = &mut done => break,
            _ = ticks.tick() => draw(&progress, started, terminal),
        }
    }
    draw(&progress, started, terminal);
    if terminal {
        eprintln!();
    }
}

fn draw(progress: &MigrationProgress, started: Instant, terminal: bool) {
    let pass = progress.pass.load(Ordering::Relaxed);
    let scanned = progress.scanned.load(Ordering::Relaxed);
    let written = progress.written.load(Ordering::Relaxed);
    let estimate = progress.estimate.load(Ordering::Relaxed);
    let rate = scanned as f64 / started.elapsed().as_secs_f64().max(0.001);
    let pass_name = match pass {
        1 => "pass 1/2, shapes",
        2 => "pass 2/2, reservations",
        _ => "starting",
    };
    let mut stderr = std::io::stderr().lock();
    if terminal {
        let bar = match estimate {
            0 => String::new(),
            total => {
                let filled = (scanned.min(total) * BAR_WIDTH / total) as usize;
                format!(
                    "[{}{}] {:>3}% ",
                    "#".repeat(filled),
                    ".".repeat(BAR_WIDTH as usize - filled),
                    scanned.min(total) * 100 / total
                )
            }
        };
        let _ = write!(
            stderr,
            "\r{pass_name}: {bar}{scanned} items scanned, {written} written ({rate:.0} items/s)   "
        );
    } else {
        let of = match estimate {
            0 => String::new(),
            total => format!(" of about {total}"),
        };
        let _ = writeln!(
            stderr,
            "migrate: {pass_name}: {scanned}{of} items scanned, {written} items written ({rate:.0} items/s)"
        );
    }
    let _ = stderr.flush();
}
