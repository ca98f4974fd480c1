//! Writing a plan directory without ever leaving a half-written plan behind.
//!
//! A new directory is assembled under a temporary sibling name and renamed into place in one
//! step, so readers see either no plan or the whole plan. When the directory already exists
//! (re-rendering), each file is written to a temporary name in the directory, flushed to disk,
//! and renamed over the old one (rename within a file system is atomic).

use super::{plan_json, plan_sql, RenderError};
use crate::plan::Plan;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `plan.sql`, `inverse.sql` and `plan.json` into `dir`, after checking that the plan
/// files read back, through the plan-file parser `apply` uses, as exactly the plans rendered
/// ([`super::reread`]).
pub fn write_plan_dir(dir: &Path, plan: &Plan, inverse: &Plan) -> Result<(), RenderError> {
    let files = [
        ("plan.sql", plan_sql(plan)),
        ("inverse.sql", plan_sql(inverse)),
        ("plan.json", plan_json(plan, inverse)),
    ];
    super::reread::check("plan.sql", &files[0].1, plan)?;
    super::reread::check("inverse.sql", &files[1].1, inverse)?;
    match fs::metadata(dir) {
        Ok(meta) if !meta.is_dir() => Err(RenderError::NotADirectory {
            path: dir.to_path_buf(),
        }),
        Ok(_) => replace_files(dir, &files),
        Err(_) => create_dir_atomically(dir, &files),
    }
}

fn create_dir_atomically(dir: &Path, files: &[(&str, String)]) -> Result<(), RenderError> {
    let parent = parent_of(dir);
    fs::create_dir_all(&parent).map_err(io("create directory", &parent))?;
    let tmp = temp_sibling(dir);
    fs::create_dir(&tmp).map_err(io("create directory", &tmp))?;
    let result = files
        .iter()
        .try_for_each(|(name, text)| write_synced(&tmp.join(name), text))
        .and_then(|()| fs::rename(&tmp, dir).map_err(io("rename into place", dir)));
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result?;
    sync_dir(&parent)
}

fn replace_files(dir: &Path, files: &[(&str, String)]) -> Result<(), RenderError> {
    let mut staged = Vec::new();
    for (name, text) in files {
        let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
        if let Err(e) = write_synced(&tmp, text) {
            staged.iter().for_each(|(t, _)| drop(fs::remove_file(t)));
            return Err(e);
        }
        staged.push((tmp, dir.join(name)));
    }
    for (tmp, target) in &staged {
        fs::rename(tmp, target).map_err(io("rename into place", target))?;
    }
    sync_dir(dir)
}

fn write_synced(path: &Path, text: &str) -> Result<(), RenderError> {
    let mut f = File::create(path).map_err(io("create", path))?;
    f.write_all(text.as_bytes()).map_err(io("write", path))?;
    f.sync_all().map_err(io("flush", path))
}

/// Makes the renames durable (best effort: not every file system supports syncing a directory).
fn sync_dir(dir: &Path) -> Result<(), RenderError> {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn temp_sibling(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map_or_else(|| "plan".into(), |n| n.to_string_lossy().into_owned());
    parent_of(dir).join(format!(".{name}.tmp-{}", std::process::id()))
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RenderError {
    let path = path.to_path_buf();
    move |source| RenderError::Io {
        action,
        path,
        source,
    }
}
