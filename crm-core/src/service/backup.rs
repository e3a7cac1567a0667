//! Backups: online copies while other threads keep writing, checks of a copy, restores, and
//! rotation for hosts that back up from their own timer.

use super::audit::verify_chain;
use crate::crm::Crm;
use crate::error::{CrmError, Result};
use crate::store::backup::{self, CopyProgress};
use crate::store::migrations;
use crate::{AuditReport, Ctx};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What [`Crm::verify_backup`] found in a file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCheck {
    /// The file.
    pub path: String,
    /// Its schema version.
    pub schema_version: i64,
    /// `PRAGMA integrity_check` complaints; empty when sound.
    pub integrity_problems: Vec<String>,
    /// The audit chain check.
    pub audit: AuditReport,
    /// True when the file is sound, its audit chain intact and its schema readable by this build.
    pub ok: bool,
}

/// Where [`Crm::restore`] puts a backup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RestoreTarget {
    /// A new file (which must not exist); the open database is untouched.
    NewFile {
        /// Path of the new database.
        path: PathBuf,
    },
    /// Over the open database, after a safety backup of it beside the file.
    Current,
}

/// File names of rotated backups: `crm-backup-YYYYMMDDTHHMMSSmmmZ.db`.
const ROTATE_PREFIX: &str = "crm-backup-";

impl Crm {
    /// Copies the database to `dest` (which must not exist) with the SQLite online backup API,
    /// reporting progress after each step; return `false` from `progress` to cancel. Other
    /// threads keep reading and writing meanwhile; the copy is the consistent state at the
    /// moment the backup started. The file appears under `dest` only once complete.
    /// Administrators and the system context only; audited.
    pub fn backup(
        &self,
        ctx: &Ctx,
        dest: &Path,
        progress: &mut dyn FnMut(CopyProgress) -> bool,
    ) -> Result<()> {
        if dest.exists() {
            return Err(CrmError::io(dest, "already exists"));
        }
        self.read(ctx, |c, access| {
            if !access.is_admin() {
                return Err(CrmError::AdminRequired {
                    operation: "backup",
                });
            }
            // The read transaction pins one snapshot for the whole copy (WAL); a read starts it
            // (the system context runs no query of its own before this point).
            backup::pin_snapshot(c)?;
            backup::copy_to(c, dest, progress)
        })?;
        self.write(ctx, |cx| {
            cx.audit(
                "backup.create",
                "database",
                None,
                &serde_json::json!({ "path": dest.display().to_string() }),
            )
        })
    }

    /// Checks a database file without changing it: integrity, audit chain, schema version.
    /// Administrators and the system context only.
    pub fn verify_backup(&self, ctx: &Ctx, path: &Path) -> Result<BackupCheck> {
        self.require_admin(ctx, "verify_backup")?;
        check_file(path)
    }

    /// Refuses a caller that is neither an administrator nor the system context.
    fn require_admin(&self, ctx: &Ctx, operation: &'static str) -> Result<()> {
        self.read(ctx, |_, access| {
            if access.is_admin() {
                Ok(())
            } else {
                Err(CrmError::AdminRequired { operation })
            }
        })
    }

    /// Restores a backup file, after checking it: into a new file, or over the open database
    /// (first copying the current state to `<db>.pre-restore-<time>.db`, whose path is
    /// returned). Other threads see either the old or the restored state. Administrators and
    /// the system context only; the restore is audited in the restored database.
    pub fn restore(
        &self,
        ctx: &Ctx,
        backup_file: &Path,
        target: &RestoreTarget,
        progress: &mut dyn FnMut(CopyProgress) -> bool,
    ) -> Result<Option<PathBuf>> {
        let check = self.verify_backup(ctx, backup_file)?;
        if !check.ok {
            return Err(CrmError::invalid(
                "backup_file",
                format!("{} failed its check: {:?}", backup_file.display(), check),
            ));
        }
        match target {
            RestoreTarget::NewFile { path } => {
                if path.exists() {
                    return Err(CrmError::io(path, "already exists"));
                }
                let src = backup::open_read_only(backup_file)?;
                src.execute_batch("BEGIN; SELECT count(*) FROM sqlite_schema;")?;
                backup::copy_to(&src, path, progress)?;
                let restored = Crm::open(path)?;
                restored.write(ctx, |cx| {
                    cx.audit(
                        "backup.restore",
                        "database",
                        None,
                        &serde_json::json!({ "from": backup_file.display().to_string() }),
                    )
                })?;
                Ok(None)
            }
            RestoreTarget::Current => {
                let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ");
                let safety =
                    PathBuf::from(format!("{}.pre-restore-{stamp}.db", self.path().display()));
                self.backup(ctx, &safety, &mut |_| true)?;
                // Handles on this file cache rights by ACL version; the restored file's version
                // must move past every version they have seen, or a stale cache would match.
                self.pool_writer(|conn| {
                    let seen = crate::store::org::acl_version(conn)?;
                    backup::copy_from(backup_file, conn, progress)?;
                    crate::store::org::raise_acl_version(conn, seen + 1)
                })?;
                self.forget_cached_access();
                self.write(ctx, |cx| {
                    cx.audit(
                        "backup.restore",
                        "database",
                        None,
                        &serde_json::json!({ "from": backup_file.display().to_string(), "safety_copy": safety.display().to_string() }),
                    )
                })?;
                Ok(Some(safety))
            }
        }
    }

    /// Writes a new backup into `dir` named `crm-backup-<UTC time>.db` and deletes the oldest
    /// such files beyond `keep` (other files are left alone). For hosts that back up from
    /// their own timer. Returns the new file. Administrators and the system context only,
    /// checked before anything is created on disk.
    pub fn backup_rotate(
        &self,
        ctx: &Ctx,
        dir: &Path,
        keep: usize,
        progress: &mut dyn FnMut(CopyProgress) -> bool,
    ) -> Result<PathBuf> {
        // Refuse before touching the disk: a non-administrator must not create folders.
        self.require_admin(ctx, "backup_rotate")?;
        if keep == 0 {
            return Err(CrmError::invalid("keep", "must be at least 1"));
        }
        std::fs::create_dir_all(dir).map_err(|e| CrmError::io(dir, e))?;
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%3fZ").to_string();
        // Two backups within one millisecond get a sequence suffix (which still sorts after).
        let mut dest = dir.join(format!("{ROTATE_PREFIX}{stamp}.db"));
        for n in 1.. {
            if !dest.exists() {
                break;
            }
            dest = dir.join(format!("{ROTATE_PREFIX}{stamp}_{n:04}.db"));
        }
        self.backup(ctx, &dest, progress)?;
        let mut existing: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| CrmError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(ROTATE_PREFIX) && n.ends_with(".db"))
            })
            .collect();
        // The timestamp format sorts by name.
        existing.sort();
        let excess = existing.len().saturating_sub(keep);
        for old in existing.into_iter().take(excess) {
            std::fs::remove_file(&old).map_err(|e| CrmError::io(&old, e))?;
        }
        Ok(dest)
    }
}

fn check_file(path: &Path) -> Result<BackupCheck> {
    let c = backup::open_read_only(path)?;
    let schema_version = migrations::schema_version(&c)?;
    let integrity_problems = backup::integrity_problems(&c)?;
    let audit = if schema_version >= 2 {
        verify_chain(&c)?
    } else {
        AuditReport {
            entries: 0,
            ok: true,
            problems: vec![],
        }
    };
    let ok =
        integrity_problems.is_empty() && audit.ok && schema_version <= migrations::SCHEMA_VERSION;
    Ok(BackupCheck {
        path: path.display().to_string(),
        schema_version,
        integrity_problems,
        audit,
        ok,
    })
}
