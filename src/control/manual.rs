//! The manual pages, generated from what they describe so that they cannot drift from it:
//! `eightfold(8)` from the command-line definition (through `clap_mangen`), and
//! `eightfold.toml(5)` from `docs/configuration.md`, whose key tables
//! `tests/integration/docs.rs` holds to the keys the config accepts and the table of limits.
//!
//! `eightfold generate man DIR` writes both; the Debian package ships them.

use clap_mangen::roff::{bold, italic, roman, Inline, Roff};
use clap_mangen::Man;

/// `docs/configuration.md`, built into the binary: the source of `eightfold.toml(5)`.
pub const CONFIGURATION: &str = include_str!("../../docs/configuration.md");

/// The sections of `eightfold(8)` after the commands: facts of the whole program that no
/// single argument carries. Each entry is a term and what it means.
const COMMAND_SECTIONS: [(&str, &[(&str, &str)]); 5] = [
    (
        "EXIT STATUS",
        &[
            (
                "0",
                "Success: the config is valid, the server stopped on SIGINT or SIGTERM, or the control request was \
                done.",
            ),
            (
                "1",
                "The config (or a zone file it names) is invalid, or the running server refused the control request \
                or reported an error; the message names the file, the line, the key and the reason.",
            ),
            (
                "3",
                "The server could not start (a socket could not be bound, a privilege could not be dropped, the \
                state file cannot be kept) or failed while running, the control endpoint could not be reached, or \
                the output could not be written (a reader that closes the pipe early, as head(1) does, is not a \
                failure).",
            ),
        ],
    ),
    (
        "SIGNALS",
        &[
            (
                "SIGHUP",
                "Reload: re-read the config and the zone files, and swap them in whole; a config that does not \
                validate is logged and the previous one keeps serving.",
            ),
            (
                "SIGINT, SIGTERM",
                "Stop: UDP workers finish their batch, TCP answers in flight are written, the state file is saved, \
                and the process exits 0.",
            ),
        ],
    ),
    (
        "ENVIRONMENT",
        &[
            ("RUST_LOG", "Log filter (for example \"info\" or \"eightfold::query=info\"); overrides --log-level."),
            (
                "EIGHTFOLD_CONTROL_TOKEN",
                "Bearer token for status, reload and override when neither --token nor the config's control_token \
                gives one.",
            ),
            ("NO_COLOR", "When set, eightfold status prints no colours on a terminal."),
            (
                "NOTIFY_SOCKET",
                "Set by systemd for Type=notify units: the server reports READY=1 once it answers, RELOADING=1 \
                during a reload and STOPPING=1 as it stops.",
            ),
        ],
    ),
    (
        "FILES",
        &[
            (
                "/etc/eightfold/eightfold.toml",
                "The config the systemd unit serves; see eightfold.toml(5). Zone files named in it are read relative \
                to its folder.",
            ),
            (
                "/var/lib/eightfold/",
                "The unit's state directory, for the state_file that keeps health check results and overrides across \
                restarts.",
            ),
            ("/usr/share/doc/eightfold/", "The manual: configuration.md, answers.md and operations.md."),
        ],
    ),
    (
        "SEE ALSO",
        &[("eightfold.toml(5)", "The config file."), ("dig(1), systemctl(1)", "Querying and running the server.")],
    ),
];

/// `eightfold(8)`: the program, its global options, then every command with its own synopsis
/// and options in one page, then exit status, signals, environment and files. `cli` is the
/// command-line definition the binary parses with.
pub fn command_page(cli: clap::Command) -> String {
    let mut cli = cli.disable_help_subcommand(true);
    cli.build();
    let man = Man::new(cli.clone()).title("EIGHTFOLD").section("8").manual("System Manager's Manual");
    let mut page = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = man.render_title(&mut page);
    page.extend_from_slice(b".ad l\n.nh\n");
    let _ = man.render_name_section(&mut page);
    let _ = man.render_synopsis_section(&mut page);
    let _ = man.render_description_section(&mut page);
    let _ = man.render_options_section(&mut page);
    let mut page = String::from_utf8(page).expect("roff is UTF-8");
    page.push_str(".SH COMMANDS\n");
    let globals: Vec<String> =
        cli.get_arguments().filter(|a| a.is_global_set()).map(|a| a.get_id().to_string()).collect();
    for command in leaves(&cli) {
        page.push_str(&command_section(command, &globals));
    }
    let mut roff = Roff::new();
    for (heading, entries) in COMMAND_SECTIONS {
        roff.control("SH", [heading]);
        for (term, meaning) in entries {
            roff.control("TP", []);
            roff.text([bold(*term)]);
            roff.text([roman(*meaning)]);
        }
    }
    page.push_str(&roff.to_roff());
    page
}

/// `eightfold.toml(5)`, from the Markdown of `docs/configuration.md`: `##` headings become
/// sections, `###` subsections, a key table one tagged paragraph per key (its default and
/// range, then its meaning), lists, code blocks and paragraphs as they are. `version` goes in
/// the page's footer.
pub fn config_page(markdown: &str, version: &str) -> String {
    let mut roff = Roff::new();
    let source = format!("eightfold {version}");
    roff.control("TH", ["EIGHTFOLD.TOML", "5", "", source.as_str(), "File Formats Manual"]);
    // Left-aligned and unhyphenated: keys and paths must not be split across lines.
    roff.control("ad", ["l"]).control("nh", []);
    roff.control("SH", ["NAME"]);
    roff.text([roman("eightfold.toml - configuration file of the eightfold authoritative DNS server")]);
    roff.control("SH", ["SYNOPSIS"]);
    roff.text([bold("/etc/eightfold/eightfold.toml")]);
    roff.control("SH", ["DESCRIPTION"]);
    let lines: Vec<&str> = markdown.lines().collect();
    let mut at = 0;
    while at < lines.len() {
        let line = lines[at];
        if line.trim().is_empty() || line.starts_with("# ") {
            at += 1;
        } else if let Some(heading) = line.strip_prefix("## ") {
            roff.control("SH", [section_heading(heading).as_str()]);
            at += 1;
        } else if let Some(heading) = line.strip_prefix("### ") {
            roff.control("SS", [plain(heading).as_str()]);
            at += 1;
        } else if line.starts_with("```") {
            let end = (at + 1..lines.len()).find(|&i| lines[i].starts_with("```")).unwrap_or(lines.len());
            roff.control("PP", []).control("RS", ["4"]).control("nf", []);
            for code in &lines[at + 1..end] {
                roff.text([roman(*code)]);
            }
            roff.control("fi", []).control("RE", []);
            at = end + 1;
        } else if line.starts_with('|') {
            let end = (at..lines.len()).find(|&i| !lines[i].starts_with('|')).unwrap_or(lines.len());
            table(&mut roff, &lines[at..end]);
            at = end;
        } else if let Some(first) = line.strip_prefix("- ") {
            let mut text = first.to_string();
            at += 1;
            while at < lines.len() && lines[at].starts_with("  ") {
                text.push(' ');
                text.push_str(lines[at].trim());
                at += 1;
            }
            roff.control("IP", ["\\(bu", "2"]);
            roff.text(inline(&text));
        } else {
            let mut text = line.trim().to_string();
            at += 1;
            while at < lines.len() && starts_paragraph_text(lines[at]) {
                text.push(' ');
                text.push_str(lines[at].trim());
                at += 1;
            }
            roff.control("PP", []);
            roff.text(inline(&text));
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    roff.text([bold("eightfold"), roman("(8); "), roman("/usr/share/doc/eightfold/ for answers.md and operations.md")]);
    roff.render()
}

/// The commands that take arguments, depth first: `import` has only its own subcommands, so
/// the page lists `import route53`.
fn leaves(command: &clap::Command) -> Vec<&clap::Command> {
    let mut found = Vec::new();
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        if sub.has_subcommands() {
            found.extend(leaves(sub));
        } else {
            found.push(sub);
        }
    }
    found
}

/// One command's subsection: its name, synopsis, description and options, without the global
/// options (listed once, under OPTIONS) or a second copy of the roff preamble.
fn command_section(command: &clap::Command, globals: &[String]) -> String {
    let name = command.get_bin_name().unwrap_or_else(|| command.get_name()).to_string();
    let mut command = command.clone();
    for id in globals.iter().map(String::as_str).chain(["help"]) {
        if command.get_arguments().any(|a| a.get_id() == id) {
            command = command.mut_arg(id, |a| a.hide(true));
        }
    }
    let man = Man::new(command);
    let mut roff = Vec::new();
    let _ = man.render_synopsis_section(&mut roff);
    let _ = man.render_description_section(&mut roff);
    let _ = man.render_options_section(&mut roff);
    let rendered = String::from_utf8(roff).expect("roff is UTF-8");
    let mut section = format!(".SS \"{name}\"\n");
    for line in rendered.lines() {
        // Each render starts with the apostrophe preamble (`.ie`/`.el`), already at the top of
        // the page, and a section heading, which becomes a paragraph break.
        if line.starts_with(".ie ") || line.starts_with(".el ") {
            continue;
        }
        section.push_str(if line.starts_with(".SH ") { ".PP" } else { line });
        section.push('\n');
    }
    section
}

/// A `##` heading as a section name: upper case, as man pages write them, unless it names a
/// table (`[server]`), which keeps its spelling.
fn section_heading(heading: &str) -> String {
    if heading.contains('`') {
        plain(heading)
    } else {
        heading.trim().to_uppercase()
    }
}

/// Whether `line` continues a paragraph rather than starting another block.
fn starts_paragraph_text(line: &str) -> bool {
    !(line.trim().is_empty()
        || line.starts_with('#')
        || line.starts_with("```")
        || line.starts_with('|')
        || line.starts_with("- "))
}

/// A Markdown table: each row a tagged paragraph headed by its first cell, then the middle
/// cells as "Header: value" (a `-` cell, meaning "none", left out), then the last cell.
fn table(roff: &mut Roff, rows: &[&str]) {
    let cells = |row: &str| -> Vec<String> {
        let row = row.trim().trim_start_matches('|').trim_end_matches('|');
        row.split('|').map(|c| c.trim().to_string()).collect()
    };
    let Some((header, body)) = rows.split_first() else { return };
    let header = cells(header);
    for row in body.iter().map(|r| cells(r)) {
        if row.iter().all(|c| c.chars().all(|ch| ch == '-' || ch == ':')) {
            continue;
        }
        roff.control("TP", []);
        roff.text(inline(&row[0]));
        let middle: Vec<String> = row
            .iter()
            .enumerate()
            .skip(1)
            .take(row.len().saturating_sub(2))
            .filter(|(_, cell)| cell.as_str() != "-")
            .map(|(i, cell)| format!("{}: {cell}", header.get(i).map_or("", String::as_str)))
            .collect();
        if !middle.is_empty() {
            roff.text(inline(&format!("{}.", capitalised(&middle.join("; ")))));
            roff.control("br", []);
        }
        if row.len() > 1 {
            roff.text(inline(&row[row.len() - 1]));
        }
    }
}

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Inline Markdown as roff: `code` and **strong** in bold, *emphasis* in italic, a link as its
/// text alone (the files it points to are in /usr/share/doc/eightfold/).
fn inline(text: &str) -> Vec<Inline> {
    let mut out = Vec::new();
    let mut plain = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let (styled, after) = match c {
            '`' => match rest[1..].find('`') {
                Some(end) => (Some(bold(&rest[1..1 + end])), &rest[end + 2..]),
                None => (None, rest),
            },
            '*' if rest.starts_with("**") => match rest[2..].find("**") {
                Some(end) => (Some(bold(self::plain(&rest[2..2 + end]))), &rest[end + 4..]),
                None => (None, rest),
            },
            '*' => match rest[1..].find('*') {
                Some(end) if end > 0 => (Some(italic(self::plain(&rest[1..1 + end]))), &rest[end + 2..]),
                _ => (None, rest),
            },
            '[' => match link(rest) {
                Some((label, after)) => {
                    plain.push_str(&self::plain(label));
                    rest = after;
                    continue;
                }
                None => (None, rest),
            },
            _ => (None, rest),
        };
        match styled {
            Some(styled) => {
                if !plain.is_empty() {
                    out.push(roman(std::mem::take(&mut plain)));
                }
                out.push(styled);
                rest = after;
            }
            None => {
                plain.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !plain.is_empty() {
        out.push(roman(plain));
    }
    out
}

/// `[label](target)` at the start of `text`: the label and what follows the link.
fn link(text: &str) -> Option<(&str, &str)> {
    let close = text.find("](")?;
    let end = text[close..].find(')')? + close;
    Some((&text[1..close], &text[end + 1..]))
}

/// Text with its Markdown marks dropped: for headings and the inside of emphasis.
fn plain(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text.trim();
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            if let Some((label, after)) = link(rest) {
                out.push_str(label);
                rest = after;
                continue;
            }
        }
        if c != '`' && c != '*' {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(inlines: &[Inline]) -> String {
        inlines
            .iter()
            .map(|i| match i {
                Inline::Roman(t) => t.clone(),
                Inline::Bold(t) => format!("<b>{t}</b>"),
                Inline::Italic(t) => format!("<i>{t}</i>"),
                Inline::LineBreak => "<br>".into(),
            })
            .collect()
    }

    #[test]
    fn inline_marks_become_fonts_and_links_their_text() {
        assert_eq!(
            text(&inline("Pin worker *i*; see [operations](operations.md#reload), `a*b` **now**.")),
            "Pin worker <i>i</i>; see operations, <b>a*b</b> <b>now</b>."
        );
        assert_eq!(text(&inline("an unclosed ` and a lone * stay")), "an unclosed ` and a lone * stay");
    }

    #[test]
    fn a_key_table_becomes_tagged_paragraphs_without_empty_ranges() {
        let mut roff = Roff::new();
        table(
            &mut roff,
            &["| key | default | range | meaning |", "|---|---|---|---|", "| `listen` | `[]` | - | Where. |"],
        );
        let out = roff.to_roff();
        assert!(out.contains(".TP\n\\fBlisten\\fR\nDefault: \\fB[]\\fR.\n.br\nWhere.\n"), "{out}");
    }

    #[test]
    fn the_config_page_has_a_section_per_table_and_every_key_as_a_term() {
        let page = config_page(CONFIGURATION, "0.0.0");
        for table in ["[server]", "[[zone]]", "[[health_check]]", "[[record]]"] {
            assert!(page.contains(&format!(".SH {table}\n")), "no section {table}");
        }
        for key in ["listen", "rrl_slip", "fallback_values", "health_threshold", "ns_ttl"] {
            assert!(page.contains(&format!(".TP\n\\fB{}\\fR\n", key)), "no term {key}");
        }
        assert!(!page.contains("```"), "a code fence leaked through");
    }
}
