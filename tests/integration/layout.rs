//! The crate's doors open one way: a module imports only modules above it in the data-flow
//! order that `src/lib.rs` maps, so no two modules import each other and what they share
//! lives in a third, lower one (the published view between the prober and the workers).

use std::path::{Path, PathBuf};

/// The library's modules, in the order of `src/lib.rs`: each may use those before it.
const ORDER: [&str; 15] = [
    "limits", "wire", "dnssec", "tsig", "config", "health", "policy", "zone", "view", "answer", "server", "cluster",
    "prober", "control", "import",
];

/// The Rust files of module `name`: `src/name.rs`, or everything under `src/name/`.
fn files(src: &Path, name: &str) -> Vec<PathBuf> {
    let single = src.join(format!("{name}.rs"));
    if single.exists() {
        return vec![single];
    }
    let mut found = Vec::new();
    let mut dirs = vec![src.join(name)];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found
}

/// The modules `text` names as `crate::module`, outside comments.
fn uses(text: &str) -> Vec<&str> {
    let mut named = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let module = rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).next().unwrap_or("");
            named.push(module);
        }
    }
    named
}

#[test]
fn every_module_is_mapped_in_lib_rs_in_this_order() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let declared: Vec<&str> =
        lib.lines().filter_map(|l| l.strip_prefix("pub mod ").and_then(|m| m.strip_suffix(';'))).collect();
    assert_eq!(declared, ORDER, "src/lib.rs declares its modules in another order, or others");
}

#[test]
fn modules_import_only_modules_above_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut wrong = Vec::new();
    for (rank, module) in ORDER.iter().enumerate() {
        for file in files(&src, module) {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in uses(&text) {
                match ORDER.iter().position(|m| *m == used) {
                    Some(other) if other > rank => {
                        wrong.push(format!("{} uses crate::{used}, which comes after {module}", file.display()))
                    }
                    Some(_) => {}
                    None => wrong.push(format!("{} uses crate::{used}, a module not in the map", file.display())),
                }
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(wrong.is_empty(), "imports that point the wrong way:\n{}", wrong.join("\n"));
}
