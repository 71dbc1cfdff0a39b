//! From the file mirror to the runtime [`Config`]: the only place limits are checked.
//!
//! [`config`] runs the steps in order: `[server]` ([`server`]), the `[[health_check]]` tables
//! ([`health_check`]), the `[[zone]]` tables and their zone files ([`zone`]), the `[[record]]`
//! tables ([`record`]), the rules that span zones and tables: which zone a name belongs to,
//! and each zone's name and type rules ([`rules`]), and last the `[[tsig_key]]` tables
//! ([`tsig_key`]), then `[cluster]` ([`cluster`]). Each step is an `impl Validator` block in its file; a problem is recorded
//! and the step goes on, so that every problem is reported at once. A [`Part`] of the steps
//! runs for a fleet's instance: its own `[server]` and `[cluster]`, or a pushed file's rest.

mod cluster;
mod dnssec;
mod health_check;
mod record;
mod rules;
mod server;
mod tsig_key;
mod zone;

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cluster::host_name;

use super::{file, Config, ConfigError, Problem, ReadFile, ZoneConfig};
use crate::limits;

/// Which tables of a file are validated.
pub(super) enum Part<'a> {
    /// All of them.
    Whole,
    /// `[server]` and `[cluster]` only: what stays with each instance of a fleet.
    Local,
    /// Everything but `[server]` and `[cluster]`, which are taken from `local` (a pushed
    /// configuration, served with the instance's own settings).
    Shared {
        /// The instance's validated local settings.
        local: &'a Config,
    },
}

/// Validates a parsed file into a [`Config`]; `text` is the file's text (for line numbers),
/// `read` supplies zone files (paths relative to `source`'s folder).
/// `problems` are those found reading the file, which go first.
pub(super) fn config(
    parsed: file::File,
    problems: Vec<Problem>,
    text: &str,
    source: &Path,
    read: &ReadFile<'_>,
    part: Part<'_>,
) -> Result<Config, ConfigError> {
    let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    let mut v = Validator { source, text, line_starts, problems };
    let server = match &part {
        Part::Shared { local } => local.server.clone(),
        Part::Whole | Part::Local => v.server(parsed.server.as_ref()),
    };
    let (checks, zones, tsig_keys) = match &part {
        Part::Local => (Vec::new(), Vec::new(), Vec::new()),
        Part::Whole | Part::Shared { .. } => {
            let checks = v.checks(&parsed.health_check, read);
            let check_ids: HashMap<&str, usize> = checks.iter().enumerate().map(|(i, c)| (c.id.as_str(), i)).collect();
            let (mut zones, origins) = v.zones(&parsed.zone, read);
            v.records(&parsed.record, &mut zones, &origins, &check_ids);
            let zones: Vec<ZoneConfig> = zones.into_iter().map(|z| v.finish_zone(z, server.max_answers)).collect();
            let tsig_keys = v.tsig_keys(&parsed.tsig_key, read);
            (checks, zones, tsig_keys)
        }
    };
    let cluster = match &part {
        Part::Shared { local } => local.cluster.clone(),
        Part::Whole | Part::Local => v.cluster(parsed.cluster.as_ref(), read),
    };
    if v.problems.is_empty() {
        Ok(Config { source: source.to_path_buf(), server, zones, checks, tsig_keys, cluster })
    } else {
        Err(ConfigError { problems: v.problems })
    }
}

/// The state of one validation: where the file is, and the problems found so far.
struct Validator<'a> {
    /// The config file, for messages and relative paths.
    source: &'a Path,
    /// Its text, to find the line a key is on.
    text: &'a str,
    /// Byte offset where each line of the file starts, for line numbers in O(log n).
    line_starts: Vec<usize>,
    /// Every problem found so far, in file order.
    problems: Vec<Problem>,
}

impl Validator<'_> {
    /// The 1-based line holding byte `offset`.
    fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    /// A path from the config, relative to the config file's folder.
    fn relative(&self, path: &str) -> PathBuf {
        self.source.parent().unwrap_or(Path::new("")).join(path)
    }

    /// A timeout in seconds (fractions allowed), within `bounds`.
    fn timeout(
        &mut self,
        value: Option<f64>,
        default: Duration,
        bounds: limits::Bounds<f64>,
        span: Option<Range<usize>>,
        ctx: &str,
        key: &str,
    ) -> Duration {
        match value {
            None => default,
            Some(secs) if bounds.contains(secs) => Duration::from_secs_f64(secs),
            Some(secs) => {
                let (min, max) = (bounds.min, bounds.max);
                self.problem(span, ctx, Some(key), format!("{secs} is outside ({min}, {max}] seconds"));
                default
            }
        }
    }

    /// The line of `key = ...` in the table whose span (its header, for a table of an array)
    /// starts at `span`, if it is written there: up to the next table's header.
    fn key_line(&self, span: &Range<usize>, key: &str) -> Option<usize> {
        let mut offset = span.start;
        for (i, line) in self.text.get(span.start..)?.split_inclusive('\n').enumerate() {
            let trimmed = line.trim_start();
            if i > 0 && trimmed.starts_with('[') {
                break;
            }
            let rest = trimmed.strip_prefix(key).map(str::trim_start);
            if rest.is_some_and(|r| r.starts_with('=')) {
                return Some(self.line(offset));
            }
            offset += line.len();
        }
        None
    }

    /// Records a problem at `span` of the file: the line of `key` there, else the table's.
    fn problem(&mut self, span: Option<Range<usize>>, context: &str, key: Option<&str>, reason: impl Into<String>) {
        let line = span.map(|s| key.and_then(|k| self.key_line(&s, k)).unwrap_or_else(|| self.line(s.start)));
        self.problems.push(Problem {
            file: self.source.to_path_buf(),
            line,
            context: context.to_string(),
            key: key.map(str::to_string),
            reason: reason.into(),
        });
    }
}
