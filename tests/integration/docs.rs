//! The manual cannot drift from the code: every key `docs/configuration.md` lists is one the
//! config accepts, every key the config accepts is listed, and every range and default there
//! is the one in `eightfold::limits`, the table the validator checks against; and the
//! README's config example is a config the server accepts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use eightfold::config::Config;
use eightfold::limits::{self, Row};

/// The five tables, as the docs head them and as `limits` keys start.
pub const TABLES: [(&str, &str); 7] = [
    ("`[server]`", "server"),
    ("`[[zone]]`", "zone"),
    ("`[zone.dnssec]`", "zone.dnssec"),
    ("`[[health_check]]`", "health_check"),
    ("`[[record]]`", "record"),
    ("`[[tsig_key]]`", "tsig_key"),
    ("`[cluster]`", "cluster"),
];

/// One documented key: its default and range cells as written.
struct Documented {
    default: String,
    range: String,
}

/// Every documented key, by `table.key`, from the `| key | default | range | meaning |`
/// tables under each table's heading.
fn documented() -> BTreeMap<String, Documented> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/configuration.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut keys = BTreeMap::new();
    let mut table = None;
    for line in text.lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            table = TABLES.iter().find(|(h, _)| *h == heading.trim()).map(|(_, t)| *t);
            continue;
        }
        let Some(table) = table else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| `key` | default | range | meaning |" splits into 6 cells, the outer two empty.
        if cells.len() < 6 || !cells[1].starts_with('`') {
            continue;
        }
        let key = cells[1].trim_matches('`');
        let previous = keys.insert(
            format!("{table}.{key}"),
            Documented { default: cells[2].to_string(), range: cells[3].to_string() },
        );
        assert!(previous.is_none(), "{table}.{key} is documented twice");
    }
    keys
}

/// The keys the config accepts in `table`, as serde lists them when it rejects an unknown one.
pub fn accepted(table: &str) -> BTreeSet<String> {
    let zone = "[[zone]]\norigin = \"example.com.\"\nsoa = \"ns1 h 1 2 3 4 5\"\nns = [\"ns1\"]\n";
    let text = match table {
        "server" => format!("[server]\nnot_a_key = 1\n{zone}"),
        "zone" => format!("{zone}not_a_key = 1\n"),
        "zone.dnssec" => format!("{zone}[zone.dnssec]\nkeys = []\nnot_a_key = 1\n"),
        "health_check" => format!("{zone}[[health_check]]\nid = \"a\"\ntype = \"TCP\"\nnot_a_key = 1\n"),
        "record" => {
            format!("{zone}[[record]]\nname = \"www\"\ntype = \"A\"\nvalues = [\"192.0.2.1\"]\nnot_a_key = 1\n")
        }
        "tsig_key" => format!("{zone}[[tsig_key]]\nname = \"k.\"\nalgorithm = \"hmac-sha256\"\nnot_a_key = 1\n"),
        "cluster" => format!("{zone}[cluster]\nnot_a_key = 1\n"),
        _ => unreachable!(),
    };
    let error = Config::parse(&text, Path::new("t.toml"), &|_| Ok(String::new()))
        .err()
        .unwrap_or_else(|| panic!("[{table}] accepted an unknown key"))
        .to_string();
    let (_, expected) = error
        .split_once("expected one of")
        .unwrap_or_else(|| panic!("[{table}]: the error does not list the keys: {error}"));
    let expected = expected.lines().next().unwrap_or_default();
    expected.split('`').skip(1).step_by(2).map(|key| format!("{table}.{key}")).collect()
}

/// `MIN to MAX` as numbers.
fn range(cell: &str) -> Option<(f64, f64)> {
    let (min, max) = cell.split_once(" to ")?;
    Some((min.trim().parse().ok()?, max.trim().parse().ok()?))
}

#[test]
fn every_config_key_is_documented_and_every_documented_key_exists() {
    let documented = documented();
    for (_, table) in TABLES {
        let accepted = accepted(table);
        assert!(!accepted.is_empty(), "[{table}]: no keys read from the error");
        let listed: BTreeSet<String> =
            documented.keys().filter(|k| k.rsplit_once('.').is_some_and(|(t, _)| t == table)).cloned().collect();
        let undocumented: Vec<_> = accepted.difference(&listed).collect();
        let unknown: Vec<_> = listed.difference(&accepted).collect();
        assert!(undocumented.is_empty(), "keys the config accepts but docs/configuration.md omits: {undocumented:?}");
        assert!(unknown.is_empty(), "keys docs/configuration.md lists but the config rejects: {unknown:?}");
    }
}

#[test]
fn documented_ranges_and_defaults_are_the_limits_the_code_checks() {
    let documented = documented();
    let rows: BTreeMap<&str, &Row> = limits::TABLE.iter().map(|row| (row.key, row)).collect();
    for row in limits::TABLE {
        let doc = documented.get(row.key).unwrap_or_else(|| panic!("{} has a limit but no docs row", row.key));
        assert_eq!(
            range(&doc.range),
            Some((row.min, row.max)),
            "{}: docs say range {:?}, the code {} to {}",
            row.key,
            doc.range,
            row.min,
            row.max
        );
        // A plain number as the default (`8`, `1232`) must be the code's.
        if let Ok(default) = doc.default.trim_matches('`').parse::<f64>() {
            assert_eq!(Some(default), row.default, "{}: docs say default {}", row.key, doc.default);
        }
    }
    for (key, doc) in &documented {
        if doc.range != "-" {
            assert!(rows.contains_key(key.as_str()), "{key}: docs give range {:?}, but limits has no row", doc.range);
        }
    }
}

#[test]
fn the_readme_config_example_is_a_valid_config() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let (_, after) = readme.split_once("```toml\n").expect("README has a ```toml example");
    let (example, _) = after.split_once("```").expect("the example is closed");
    // It names the demo's zone file, to be copied beside it.
    let zone = std::fs::read_to_string(root.join("examples/example.com.zone")).unwrap();
    let config = Config::parse(example, Path::new("README.md"), &move |_| Ok(zone.clone()))
        .unwrap_or_else(|e| panic!("the README's config example is rejected:\n{e}"));
    assert_eq!(config.checks.len(), 2, "the example's two health checks");
}
