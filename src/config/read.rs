//! From TOML text to the file mirror ([`file::File`]), keeping every problem: a syntax error
//! ends the reading (what follows it cannot be trusted), but a key that is unknown or of the
//! wrong type is reported with its line, its value and a hint, and left out, so that the rest
//! of its table, the other tables and the validation after them still report theirs.

use std::ops::Range;
use std::path::Path;

use serde::de::{Deserialize, DeserializeOwned, Deserializer, Visitor};
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::{file, Problem};

/// The file mirror of `text`, with the tables or keys that could not be read left out, and a
/// problem for each; `Err` when the text is not TOML.
pub(super) fn read(text: &str, source: &Path) -> Result<(file::File, Vec<Problem>), Vec<Problem>> {
    let (root, errors) = DeTable::parse_recoverable(text);
    let mut reader = Reader { text, source, problems: Vec::new() };
    if !errors.is_empty() {
        for e in errors {
            let line = e.span().map(|s| reader.line(s.start));
            reader.push(line, "", None, e.message().trim().to_string());
        }
        return Err(reader.problems);
    }
    let mut parsed = file::File::default();
    for (key, value) in root.get_ref() {
        let name: &str = key.get_ref();
        match name {
            "server" => match value.get_ref() {
                DeValue::Table(_) => parsed.server = reader.table(value, "[server]".into()),
                _ => reader.shape(key, "is a table: write `[server]` on a line of its own, its keys below"),
            },
            "zone" => parsed.zone = reader.tables(key, value, "zone", "origin"),
            "health_check" => parsed.health_check = reader.tables(key, value, "health_check", "id"),
            "record" => parsed.record = reader.tables(key, value, "record", "name"),
            "tsig_key" => parsed.tsig_key = reader.tables(key, value, "tsig_key", "name"),
            "cluster" => match value.get_ref() {
                DeValue::Table(_) => parsed.cluster = reader.table(value, "[cluster]".into()),
                _ => reader.shape(key, "is a table: write `[cluster]` on a line of its own, its keys below"),
            },
            other => {
                let reason = unknown(other, &["server", "zone", "health_check", "record", "tsig_key", "cluster"]);
                reader.push(Some(reader.line(key.span().start)), "", Some(other), reason);
            }
        }
    }
    let mut problems = reader.problems;
    problems.sort_by_key(|p| p.line);
    Ok((parsed, problems))
}

/// The keys of `[server]` the control commands read, as written (`None` when not written).
#[derive(Debug, Default)]
pub(super) struct ControlTexts {
    pub control: Option<String>,
    pub control_token: Option<String>,
    pub control_socket: Option<String>,
    pub state_file: Option<String>,
}

/// `[server]`'s `control`, `control_token`, `control_socket` and `state_file` from a config's
/// text, read leniently: the rest of the file may be anything, even broken TOML around them,
/// since the control commands need only these to reach the running server (which reports the
/// file's problems itself when it reloads).
pub(super) fn control_settings(text: &str) -> Result<ControlTexts, String> {
    let (root, _) = DeTable::parse_recoverable(text);
    let Some(server) = root.get_ref().get("server").and_then(|s| s.get_ref().as_table()) else {
        return Ok(ControlTexts::default());
    };
    let text_of = |key: &str| -> Result<Option<String>, String> {
        match server.get(key).map(|v| v.get_ref()) {
            None => Ok(None),
            Some(DeValue::String(s)) => Ok(Some(s.to_string())),
            Some(other) => Err(format!("[server]: key `{key}`: is a {}, not text in quotes", other.type_str())),
        }
    };
    Ok(ControlTexts {
        control: text_of("control")?,
        control_token: text_of("control_token")?,
        control_socket: text_of("control_socket")?,
        state_file: text_of("state_file")?,
    })
}

struct Reader<'t> {
    text: &'t str,
    source: &'t Path,
    problems: Vec<Problem>,
}

impl Reader<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].bytes().filter(|&b| b == b'\n').count() + 1
    }

    fn push(&mut self, line: Option<usize>, context: &str, key: Option<&str>, reason: String) {
        self.problems.push(Problem {
            file: self.source.to_path_buf(),
            line,
            context: context.to_string(),
            key: key.map(str::to_string),
            reason,
        });
    }

    fn shape(&mut self, key: &Spanned<toml::de::DeString<'_>>, reason: &str) {
        let line = Some(self.line(key.span().start));
        self.push(line, "", Some(key.get_ref()), reason.to_string());
    }

    /// A `[[name]]` list of tables, each labelled in messages by its `label` key.
    fn tables<T: DeserializeOwned>(
        &mut self,
        key: &Spanned<toml::de::DeString<'_>>,
        value: &Spanned<DeValue<'_>>,
        name: &str,
        label: &str,
    ) -> Vec<Spanned<T>> {
        let DeValue::Array(items) = value.get_ref() else {
            self.shape(key, &format!("is a list of tables: write `[[{name}]]` above each one's keys"));
            return Vec::new();
        };
        let mut read = Vec::new();
        for item in items.iter() {
            let context = match item.get_ref() {
                DeValue::Table(t) => {
                    let text = |key: &str| t.get(key).and_then(|v| v.get_ref().as_str());
                    match (text(label), text("type")) {
                        // As validation names them: `record "www" A`, `zone "example.com."`.
                        (Some(l), Some(rtype)) if name == "record" => format!("{name} {l:?} {rtype}"),
                        (Some(l), _) => format!("{name} {l:?}"),
                        (None, _) => format!("[[{name}]]"),
                    }
                }
                _ => {
                    self.shape(key, &format!("is a list of tables: write `[[{name}]]` above each one's keys"));
                    continue;
                }
            };
            read.extend(self.table(item, context));
        }
        read
    }

    /// One table: every unknown key and every key whose value does not read is a problem
    /// and is left out; the table is read without them, unless a required key is missing.
    fn table<T: DeserializeOwned>(&mut self, value: &Spanned<DeValue<'_>>, context: String) -> Option<Spanned<T>> {
        let DeValue::Table(table) = value.get_ref() else { return None };
        let fields = fields_of::<T>();
        let mut table: DeTable<'_> = table.clone();
        let mut left_out: Vec<String> = Vec::new();
        let unknown_keys: Vec<String> =
            table.keys().map(|k| k.get_ref().to_string()).filter(|k| !fields.contains(&k.as_str())).collect();
        for key in unknown_keys {
            let line = table.get_key_value(key.as_str()).map(|(k, _)| self.line(k.span().start));
            self.push(line, &context, Some(&key), unknown(&key, fields));
            table.remove(key.as_str());
            left_out.push(key);
        }
        // Each failed attempt leaves one more key out, so this ends.
        loop {
            let attempt = Spanned::new(value.span(), DeValue::Table(table.clone()));
            let error = match Spanned::<T>::deserialize(ValueDeserializer::from(attempt)) {
                Ok(read) => return Some(read),
                Err(e) => e,
            };
            let message = error.message().trim().to_string();
            if let Some(missing) = missing_field(&message) {
                // A key left out above is reported already; one never written is missing.
                if !left_out.iter().any(|k| k == missing) {
                    let line = Some(self.line(value.span().start));
                    self.push(line, &context, Some(missing), "is required".into());
                }
                return None;
            }
            let at = error.span().map_or(value.span().start, |s| s.start);
            let Some((key, value_span)) = key_at(&table, at) else {
                let line = Some(self.line(at));
                self.push(line, &context, None, message);
                return None;
            };
            let line = Some(self.line(at));
            // A secret is never repeated back, even mistyped.
            let reason = if is_secret(&key) {
                let expected = message.split_once(", expected ").map_or("", |(_, e)| e);
                format!("is not {}", if expected == "a string" { "text in quotes" } else { expected })
            } else {
                let written = self.text.get(value_span).unwrap_or("").trim().to_string();
                type_problem(&key, &written, &message)
            };
            self.push(line, &context, Some(&key), reason);
            table.remove(key.as_str());
            left_out.push(key);
        }
    }
}

/// The key of `table` whose key or value holds byte `at`, and its value's span.
fn key_at(table: &DeTable<'_>, at: usize) -> Option<(String, Range<usize>)> {
    table.iter().find_map(|(k, v)| {
        let (key, value) = (k.span(), v.span());
        (key.contains(&at) || value.contains(&at) || at == value.end).then(|| (k.get_ref().to_string(), value))
    })
}

/// Keys whose values are secrets (`control_token`, `secret`), never shown in a message.
fn is_secret(key: &str) -> bool {
    key.contains("token") || key.contains("secret") || key.contains("password")
}

/// The key serde names in "missing field `key`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Why the value written for `key` was not read, in the config's terms, with a hint where
/// one helps.
fn type_problem(key: &str, written: &str, message: &str) -> String {
    let expected = message.split_once(", expected ").map_or("", |(_, e)| e);
    let wanted = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" | "i64" => "a whole number",
        "f64" => "a number",
        "a boolean" => "true or false",
        "a string" => "text in quotes",
        "a sequence" => "a list",
        _ => "",
    };
    let mut reason = if wanted.is_empty() {
        format!("{written} cannot be read: {message}")
    } else {
        format!("{written} is not {wanted}")
    };
    if let Some(hint) = hint(key, written, expected) {
        reason.push_str("; ");
        reason.push_str(&hint);
    }
    reason
}

/// Keys that are durations or TTLs: whole seconds, or seconds with a fraction.
const SECONDS: &[&str] = &[
    "ttl",
    "ns_ttl",
    "request_interval",
    "tcp_idle_timeout",
    "state_max_age",
    "tcp_message_timeout",
    "connect_timeout",
    "response_timeout",
    "body_timeout",
];

fn hint(key: &str, written: &str, expected: &str) -> Option<String> {
    let text = written.trim_matches('"');
    if SECONDS.contains(&key) {
        let seconds = with_unit(text);
        let what = if key.ends_with("ttl") { "TTLs" } else { "durations" };
        return Some(match seconds {
            Some(s) => format!("{what} in the config are seconds, without a unit: write {key} = {s}"),
            None => format!("{what} in the config are seconds, without a unit (3600 for an hour)"),
        });
    }
    match (key, expected) {
        (_, "a sequence") => Some(format!("`{key}` takes a list: {key} = [{written}]")),
        (_, "a string") => Some(format!("put it in quotes: {key} = \"{text}\"")),
        (_, "a boolean") => Some(format!("write {key} = true or {key} = false, without quotes")),
        (_, "u8" | "u16" | "u32" | "u64" | "usize" | "i64" | "f64") if text.parse::<f64>().is_ok() => {
            Some(format!("write it without quotes: {key} = {text}"))
        }
        _ => None,
    }
}

/// Seconds in a duration written with a unit (`90s`, `5m`, `1h`, `2d`, `1w`), if it is one.
fn with_unit(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// "unknown key", with the closest accepted key when one is close, else the list of them.
fn unknown(key: &str, accepted: &[&str]) -> String {
    let closest = accepted
        .iter()
        .map(|a| (distance(key, a), *a))
        .filter(|&(d, a)| d <= (a.len().max(key.len()) / 3).max(1))
        .min_by_key(|&(d, _)| d);
    match closest {
        Some((_, a)) => format!("unknown key; did you mean `{a}`?"),
        None => {
            let list: Vec<String> = accepted.iter().map(|a| format!("`{a}`")).collect();
            format!("unknown key, expected one of {}", list.join(", "))
        }
    }
}

/// Edits (insert, delete, replace, swap two neighbours) between `a` and `b`.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// The keys a table type accepts, as its derived `Deserialize` lists them.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

/// A deserializer that only learns the field names a struct asks for.
struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("only a struct's field names are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(serde::de::Error::custom("only a struct's field names are read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_the_derive() {
        let fields = fields_of::<file::RecordTable>();
        assert!(fields.contains(&"type") && fields.contains(&"values"), "{fields:?}");
    }

    #[test]
    fn close_keys_are_suggested() {
        assert_eq!(
            unknown("requst_interval", &["request_interval", "ip"]),
            "unknown key; did you mean `request_interval`?"
        );
        assert_eq!(
            unknown("failure_treshold", &["failure_threshold"]),
            "unknown key; did you mean `failure_threshold`?"
        );
        assert_eq!(unknown("max_answer", &["max_answers", "listen"]), "unknown key; did you mean `max_answers`?");
        assert_eq!(unknown("colour", &["listen", "workers"]), "unknown key, expected one of `listen`, `workers`");
    }

    #[test]
    fn a_mistyped_secret_is_not_repeated() {
        let text = "[[tsig_key]]\nname = \"k\"\nalgorithm = \"hmac-sha256\"\nsecret = 123456789\n\
                    [server]\ncontrol_token = 987654321\n";
        let (_, problems) = read(text, std::path::Path::new("c.toml")).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        for p in &problems {
            let shown = p.to_string();
            assert!(!shown.contains("123456789") && !shown.contains("987654321"), "{shown}");
            assert!(shown.contains("is not text in quotes"), "{shown}");
        }
    }

    #[test]
    fn durations_with_units_are_turned_into_seconds() {
        assert_eq!(with_unit("60s"), Some(60));
        assert_eq!(with_unit("1h"), Some(3600));
        assert_eq!(with_unit("2 days"), Some(172_800));
        assert_eq!(with_unit("60"), None);
        assert_eq!(with_unit("1y"), None);
    }
}
