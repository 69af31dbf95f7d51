//! `ecommerce-service migrate`: turns what the original system wrote into
//! today's shapes, on the configured engine, beside a live service.
//!
//! Two passes over the whole table (a segmented, parallel scan on
//! DynamoDB: "Parallel scan" in the DynamoDB Developer Guide):
//! 1. *Shapes*: each order gets its index keys (GSI1, lookups by id; GSI2,
//!    the work queue) and today's timestamps; each profile its address in
//!    `Address` and a reservation that names it; a mixed-case customer
//!    moves to the lower-case key with its orders and reservation, unless
//!    another profile has that key (a case collision: reported, nothing
//!    merged). Partial items and orders of no profile are reported.
//! 2. *Reservations*: those no profile claimed in pass 1 are orphans.
//!
//! Every write replaces an item only if it is still as read (see
//! [`shape::unchanged`]), and creates one only if its key is free, so a
//! request's write is never overwritten: the item is read again and the
//! change redone, or left for the next run. A second run changes nothing. A
//! checkpoint per segment after each scan page lets an interrupted run
//! continue where it stopped. Writes are paced by `--max-writes-per-second`.

mod checkpoint;
mod counts;
mod customers;
mod limiter;
mod moves;
mod orders;
pub mod progress;
mod retry;
mod shape;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::try_join_all;
use serde::Serialize;

use crate::store::engine::{EngineError, Item, Segment, Transaction, WriteOp, key_of};
use crate::store::keys::{self, Key};
use crate::store::{Store, StoreError, TableAccess};

pub use checkpoint::{CheckpointError, Pass};
pub use counts::{Counts, Kind};

/// Items per scan page: a checkpoint follows each page.
const SCAN_PAGE: usize = 100;
/// Within a page, a checkpoint after an item that wrote, at most this often:
/// a run killed while it moves a large customer does not start over.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);
/// How often an item a request keeps changing is read and tried again.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// Count what would change; write nothing (not even a checkpoint).
    pub dry_run: bool,
    /// Remove partial items and orphans instead of only reporting them.
    pub delete_orphans: bool,
    /// `None`: as fast as the engine takes them.
    pub max_writes_per_second: Option<u32>,
    /// Parallel scan segments (DynamoDB; the embedded engine has one).
    pub segments: u32,
}

/// What a migration shows while it runs.
#[derive(Debug, Default)]
pub struct MigrationProgress {
    /// 0 before the first pass, then the pass under way.
    pub pass: AtomicU64,
    pub scanned: AtomicU64,
    pub written: AtomicU64,
    /// About how many items the table holds (0: unknown).
    pub estimate: AtomicU64,
}

#[derive(Debug, Serialize)]
pub struct MigrationSummary {
    pub dry_run: bool,
    /// Continued an interrupted run (its counts are included).
    pub resumed: bool,
    pub segments: u32,
    pub counts: Counts,
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("the migration failed")]
    Store(#[from] StoreError),
}

impl From<EngineError> for MigrateError {
    fn from(error: EngineError) -> Self {
        MigrateError::Store(error.into())
    }
}

/// One run, shared by its segments.
struct Run {
    engine: TableAccess,
    options: MigrateOptions,
    limiter: limiter::Limiter,
    progress: Arc<MigrationProgress>,
    /// On a dry run, the reservations pass 1 would have claimed (it claims
    /// none), so that pass 2 does not count them as orphans.
    claimed: std::sync::Mutex<std::collections::HashSet<Key>>,
    /// Pass 1 linked every profile it met: only then is a reservation that
    /// names nobody surely an orphan (a profile it could not read, or that
    /// kept changing, may own one).
    pass_one_clean: std::sync::atomic::AtomicBool,
}

/// Whether a conditional write happened.
enum Conditional {
    Applied,
    /// A condition did not hold: someone changed the items meanwhile.
    Refused(crate::store::engine::ConditionFailed),
}

/// Migrates the table `store` serves, through its engine as any caller
/// of the engine interface would.
pub async fn run(
    store: &Store,
    options: MigrateOptions,
    progress: Arc<MigrationProgress>,
) -> Result<MigrationSummary, MigrateError> {
    let engine = store.table_access();
    let segments = options.segments.clamp(1, engine.max_segments());
    let (checkpoints, resumed) = if options.dry_run {
        (vec![None; segments as usize], false)
    } else {
        let found = checkpoint::load(&engine, segments, options.delete_orphans).await?;
        let resumed = found.iter().any(Option::is_some);
        (found, resumed)
    };
    let mut checkpoints: Vec<checkpoint::Checkpoint> = checkpoints
        .into_iter()
        .map(|found| {
            found.unwrap_or_else(|| checkpoint::Checkpoint::start(segments, options.delete_orphans))
        })
        .collect();
    if let Ok(estimate) = engine.approximate_item_count().await {
        progress.estimate.store(estimate, Ordering::Relaxed);
    }
    let run = Arc::new(Run {
        engine: engine.clone(),
        limiter: limiter::Limiter::new(options.max_writes_per_second),
        options,
        progress,
        claimed: Default::default(),
        pass_one_clean: std::sync::atomic::AtomicBool::new(true),
    });
    for pass in [Pass::Shapes, Pass::Reservations] {
        run.progress.pass.store(pass as u64, Ordering::Relaxed);
        run.progress.scanned.store(0, Ordering::Relaxed);
        let segment_runs = checkpoints.drain(..).enumerate().map(|(index, at)| {
            let run = Arc::clone(&run);
            let segment = Segment {
                index: index as u32,
                total: segments,
            };
            async move { run.pass(pass, segment, at).await }
        });
        checkpoints = try_join_all(segment_runs).await?;
        if pass == Pass::Shapes {
            let mut so_far = Counts::default();
            for checkpoint in &checkpoints {
                so_far.merge(&checkpoint.counts);
            }
            // A reservation naming nobody is an orphan only if pass 1
            // judged every profile: one it could not read, that kept
            // changing, or that was being deleted may own it.
            let clean = [
                Kind::Unreadable,
                Kind::ChangedMeanwhile,
                Kind::DeletionsUnderWay,
            ]
            .iter()
            .all(|&kind| so_far.get(kind) == 0);
            if !clean && run.options.delete_orphans {
                tracing::warn!(
                    "pass 1 left profiles it could not read, link or judge (being deleted): \
                     no reservation is deleted as an orphan this run"
                );
            }
            run.pass_one_clean.store(clean, Ordering::Relaxed);
        }
    }
    let mut counts = Counts::default();
    for checkpoint in &checkpoints {
        counts.merge(&checkpoint.counts);
    }
    if !run.options.dry_run {
        checkpoint::clear(&engine, segments).await?;
    }
    Ok(MigrationSummary {
        dry_run: run.options.dry_run,
        resumed,
        segments,
        counts,
    })
}

impl Run {
    /// One pass over one segment, from its checkpoint; returns the
    /// checkpoint at the end of the pass.
    async fn pass(
        &self,
        pass: Pass,
        segment: Segment,
        mut at: checkpoint::Checkpoint,
    ) -> Result<checkpoint::Checkpoint, MigrateError> {
        if at.pass > pass || (at.pass == pass && at.finished) {
            return Ok(at);
        }
        if at.pass < pass {
            at.pass = pass;
            at.after = None;
            at.finished = false;
        }
        let mut partitions = customers::Partitions::default();
        let mut saved_at = std::time::Instant::now();
        loop {
            let (items, next) = self
                .engine
                .scan(segment, at.after.clone(), SCAN_PAGE)
                .await?;
            for item in items {
                self.progress.scanned.fetch_add(1, Ordering::Relaxed);
                let key = key_of(&item);
                let writes_before = at.counts.get(Kind::Writes);
                match pass {
                    Pass::Shapes => {
                        at.counts.add(Kind::ItemsScanned, 1);
                        self.shape(item, &mut partitions, &mut at.counts).await?;
                    }
                    Pass::Reservations => self.orphan_reservation(item, &mut at.counts).await?,
                }
                // The key of an item this segment returned continues the
                // segment's scan, as a page's LastEvaluatedKey does: the
                // API Reference (Scan, "ExclusiveStartKey") asks only for a
                // full primary key, and a parallel scan's start key for the
                // same segment ("Segment"), which an item of it is in.
                let wrote = at.counts.get(Kind::Writes) > writes_before;
                if wrote && !self.options.dry_run && saved_at.elapsed() >= CHECKPOINT_EVERY {
                    at.after = key;
                    checkpoint::save(&self.engine, segment.index, &at).await?;
                    saved_at = std::time::Instant::now();
                }
            }
            at.finished = next.is_none();
            at.after = next;
            if !self.options.dry_run {
                checkpoint::save(&self.engine, segment.index, &at).await?;
                saved_at = std::time::Instant::now();
            }
            if at.finished {
                return Ok(at);
            }
        }
    }

    /// Pass 1 for one item: whatever it is, into today's shape.
    async fn shape(
        &self,
        item: Item,
        partitions: &mut customers::Partitions,
        counts: &mut Counts,
    ) -> Result<(), StoreError> {
        let Some(key) = key_of(&item) else {
            return Ok(());
        };
        if !keys::is_customer_partition(&key.pk) {
            // Reservations wait for pass 2; the rest is this service's own.
            return Ok(());
        }
        let Some(owner) = keys::owner_of_partition(&key.pk) else {
            tracing::warn!(
                pk = key.pk,
                sk = key.sk,
                "a customer item whose username this service cannot take: left as it is"
            );
            counts.add(Kind::Unreadable, 1);
            return Ok(());
        };
        if keys::customer_partition(&owner) != key.pk {
            // The original system's mixed-case customer.
            return self.shape_moving(item, &owner, partitions, counts).await;
        }
        if key.sk == key.pk {
            self.shape_profile(item, counts).await
        } else if keys::is_order_sort_key(&key.sk) {
            self.shape_order(item, partitions, counts).await
        } else {
            Ok(())
        }
    }

    /// Writes `ops` atomically (on a dry run, only counts them), paced.
    async fn write(
        &self,
        ops: Vec<WriteOp>,
        counts: &mut Counts,
    ) -> Result<Conditional, StoreError> {
        let writes = ops
            .iter()
            .filter(|op| !matches!(op, WriteOp::Check { .. }))
            .count();
        if writes == 0 {
            return Ok(Conditional::Applied);
        }
        self.note_claimed(&ops);
        if !self.options.dry_run {
            self.limiter.acquire(writes).await;
            let mut transaction = Transaction::default();
            transaction.extend(ops);
            match self.engine.write(transaction).await {
                Ok(()) => {}
                Err(EngineError::ConditionFailed(failed)) => {
                    return Ok(Conditional::Refused(failed));
                }
                Err(error) => return Err(error.into()),
            }
        }
        counts.add(Kind::Writes, writes as u64);
        self.progress
            .written
            .fetch_add(writes as u64, Ordering::Relaxed);
        Ok(Conditional::Applied)
    }

    /// On a dry run, notes the reservations `ops` would have claimed.
    fn note_claimed(&self, ops: &[WriteOp]) {
        if !self.options.dry_run {
            return;
        }
        let mut claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        for op in ops {
            let key = match op {
                WriteOp::Put { item, .. } => key_of(item),
                // A reservation moved to its lower-case key.
                WriteOp::Delete { key, .. } => Some(key.clone()),
                WriteOp::Check { .. } => None,
            };
            if let Some(key) = key.filter(|key| keys::is_email_reservation(&key.pk)) {
                claimed.insert(key);
            }
        }
    }

    fn deletes_reservations(&self) -> bool {
        self.pass_one_clean.load(Ordering::Relaxed)
    }

    fn was_claimed(&self, key: &Key) -> bool {
        self.options.dry_run
            && self
                .claimed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(key)
    }
}
