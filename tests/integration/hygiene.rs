//! Facts about the package itself that no other test would notice going stale: here, that
//! the `rust-version` in Cargo.toml is one the locked dependencies can be built with.

use std::collections::{HashMap, HashSet};
use std::process::Command;

use serde_json::Value;

/// Runs the cargo that builds these tests on this package and returns what it prints.
fn cargo(args: &[&str]) -> String {
    let out =
        Command::new(env!("CARGO")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().expect("cargo runs");
    assert!(out.status.success(), "cargo {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("cargo prints UTF-8")
}

/// A `rust-version` ("1.87" or "1.87.0") as numbers, so that 1.100 sorts above 1.87.
fn version(text: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = text
        .split('.')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("rust-version {text:?} is not a version")))
        .collect();
    parts.resize(3, 0);
    parts
}

/// Cargo refuses to build a dependency whose `rust-version` is above the running toolchain,
/// so a `rust-version` lower than a locked dependency's promises a toolchain that cannot build
/// the package. This fails naming each such dependency.
///
/// Checked: every package reachable from this one in the locked resolve through any kind of
/// dependency, normal, build and dev alike, because `cargo test` and the benches are part of
/// what the README asks a toolchain to run. Only the host's target is resolved: packages for
/// other targets (Windows and the like) are not downloaded here, and the check must work
/// without the network (`--offline --locked`, the lock file as it is). A dependency that
/// declares no `rust-version` says nothing and is skipped.
#[test]
fn rust_version_covers_every_locked_dependency() {
    let host =
        cargo(&["-vV"]).lines().find_map(|l| l.strip_prefix("host: ")).expect("cargo -vV names the host").to_owned();
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let metadata = cargo(&[
        "metadata",
        "--format-version",
        "1",
        "--locked",
        "--offline",
        "--filter-platform",
        &host,
        "--manifest-path",
        manifest,
    ]);
    let metadata: Value = serde_json::from_str(&metadata).expect("cargo metadata prints JSON");

    let packages: HashMap<&str, &Value> =
        metadata["packages"].as_array().unwrap().iter().map(|p| (p["id"].as_str().unwrap(), p)).collect();
    let nodes: HashMap<&str, &Value> =
        metadata["resolve"]["nodes"].as_array().unwrap().iter().map(|n| (n["id"].as_str().unwrap(), n)).collect();
    let root = metadata["resolve"]["root"].as_str().expect("the manifest is a package");
    let declared = packages[root]["rust_version"].as_str().expect("Cargo.toml sets rust-version");

    let mut reached = HashSet::from([root]);
    let mut to_visit = vec![root];
    while let Some(id) = to_visit.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let dep = dep["pkg"].as_str().unwrap();
            if reached.insert(dep) {
                to_visit.push(dep);
            }
        }
    }

    let mut above: Vec<String> = reached
        .iter()
        .filter(|&&id| id != root)
        .filter_map(|id| {
            let package = packages[id];
            let needs = package["rust_version"].as_str()?;
            (version(needs) > version(declared)).then(|| {
                format!("{} {} needs {needs}", package["name"].as_str().unwrap(), package["version"].as_str().unwrap())
            })
        })
        .collect();
    above.sort();
    assert!(
        above.is_empty(),
        "Cargo.toml says rust-version = \"{declared}\", but {} of {} locked packages need more:\n{}",
        above.len(),
        reached.len() - 1,
        above.join("\n")
    );
}

/// The comparison with the locked packages is numeric: compared as text, "1.100" would sort below "1.87", and a
/// missing patch number would make "1.87" look older than "1.87.0".
#[test]
fn rust_versions_compare_as_numbers() {
    assert!(version("1.100") > version("1.87"));
    assert!(version("1.87.1") > version("1.87"));
    assert_eq!(version("1.87"), version("1.87.0"));
    assert!(version("2.0") > version("1.99.9"));
}
