//! Records, for `eightfold --version`, the commit the binary is built from (`git rev-parse`
//! when the source is a git checkout with git installed, else "unknown": a source tarball,
//! a packaged build) and the optional features it is built with. Nothing else is generated.

use std::process::Command;

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_string());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .is_some_and(|out| !out.stdout.is_empty());
    let suffix = if dirty { "-modified" } else { "" };
    println!("cargo:rustc-env=EIGHTFOLD_COMMIT={commit}{suffix}");
    let mut features: Vec<String> = std::env::vars()
        .filter_map(|(key, _)| key.strip_prefix("CARGO_FEATURE_").map(|f| f.to_lowercase().replace('_', "-")))
        .filter(|f| f != "default")
        .collect();
    features.sort();
    let features = if features.is_empty() { "none".to_string() } else { features.join(", ") };
    println!("cargo:rustc-env=EIGHTFOLD_FEATURES={features}");
    // A new commit or a changed work tree changes the answer: HEAD, the branch it names, the
    // packed refs and the index. In a linked work tree (`git worktree`) `.git` is a file:
    // HEAD and the index are in the work tree's own git folder, the refs in the common one.
    let own = git(&["rev-parse", "--git-dir"]).unwrap_or_else(|| ".git".to_string());
    let common = git(&["rev-parse", "--git-common-dir"]).unwrap_or_else(|| own.clone());
    let mut watched = vec![format!("{own}/HEAD"), format!("{own}/index"), format!("{common}/packed-refs")];
    if let Ok(head) = std::fs::read_to_string(format!("{own}/HEAD")) {
        if let Some(branch) = head.trim().strip_prefix("ref: ") {
            watched.push(format!("{common}/{branch}"));
        }
    }
    for path in watched {
        if std::path::Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}

/// What `git ARGS` prints, trimmed; `None` when git is missing, fails or prints nothing.
fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok().filter(|out| out.status.success())?;
    Some(String::from_utf8(out.stdout).ok()?.trim().to_string()).filter(|s| !s.is_empty())
}
