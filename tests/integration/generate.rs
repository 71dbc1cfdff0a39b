//! `eightfold generate`: the manual pages render with `man` and name every command, option and
//! config key; the completion scripts parse in bash, zsh and fish and complete the commands
//! and options. What they must name is read from the binary's `--help` and from the keys the
//! config accepts, not from the generator. `.ci/run` installs man-db, zsh and fish; elsewhere
//! a check whose program is missing says so and passes, unless CI is set.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::binary;
use crate::docs::{accepted, TABLES};

/// Whether `program` is on the PATH; when it is not, says so, and fails under CI.
fn have(program: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !found {
        assert!(std::env::var_os("CI").is_none(), "{program} is required under CI (apt-get install {package})");
        eprintln!("{program} is not installed (apt-get install {package}); skipping its checks outside CI");
    }
    found
}

fn run(command: &mut Command) -> Output {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn eightfold(args: &[&str]) -> String {
    String::from_utf8(run(Command::new(binary()).args(args)).stdout).unwrap()
}

/// The commands `eightfold [COMMAND...] --help` lists, less `help`.
fn commands(path: &[&str]) -> Vec<String> {
    let help = eightfold(&[path, &["--help"]].concat());
    let Some((_, list)) = help.split_once("Commands:\n") else { return Vec::new() };
    list.lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect()
}

/// Every command that takes arguments, as its words (`["import", "route53"]`), with the long
/// options its `--help` lists, less the global ones.
fn leaf_commands() -> Vec<(Vec<String>, BTreeSet<String>)> {
    let global = options(&eightfold(&["--help"]));
    let mut found = Vec::new();
    let mut pending: Vec<Vec<String>> = commands(&[]).into_iter().map(|c| vec![c]).collect();
    while let Some(words) = pending.pop() {
        let path: Vec<&str> = words.iter().map(String::as_str).collect();
        let subs = commands(&path);
        if subs.is_empty() {
            let own = options(&eightfold(&[path.as_slice(), &["--help"]].concat()));
            found.push((words, own.difference(&global).cloned().collect()));
        } else {
            pending.extend(subs.into_iter().map(|s| [words.clone(), vec![s]].concat()));
        }
    }
    found
}

/// The `--long` options a help text lists (on the lines that start with an option).
fn options(help: &str) -> BTreeSet<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .flat_map(|l| l.split(|c: char| c == ',' || c.is_whitespace()))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(str::to_string)
        .collect()
}

/// Whether a line of a rendered page starts a tagged paragraph (indented 7) with `word`.
fn tagged(line: &str, word: &str) -> bool {
    line.strip_prefix("       ")
        .is_some_and(|rest| rest.split(|c: char| c == ',' || c.is_whitespace()).next() == Some(word))
        || line.trim_start().starts_with("-") && line.contains(&format!(", {word} "))
        || line.trim_start().starts_with("-") && line.trim_end().ends_with(&format!(", {word}"))
}

/// `man -l` on a page: its text, after checking that groff had nothing to warn about.
fn render(page: &Path) -> String {
    let out = run(Command::new("man")
        .args(["--warnings", "-l"])
        .arg(page)
        .env("MANWIDTH", "100")
        .env("LANG", "C.UTF-8")
        .env("MAN_KEEP_FORMATTING", "")
        .env_remove("MANPAGER")
        .env_remove("PAGER"));
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(warnings.trim().is_empty(), "{}: groff warns:\n{warnings}", page.display());
    String::from_utf8(out.stdout).unwrap()
}

/// The lines of a rendered page under the section headed `heading`, up to the next section.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| l.trim_end() != heading);
    assert!(lines.next().is_some(), "no section {heading:?} in:\n{text}");
    lines.take_while(|l| l.is_empty() || l.starts_with(' ')).collect()
}

#[test]
fn the_manual_pages_render_and_name_every_command_option_and_config_key() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("man");
    let listed = eightfold(&["generate", "man", folder.to_str().unwrap()]);
    let command_page = folder.join("man8/eightfold.8");
    let config_page = folder.join("man5/eightfold.toml.5");
    for page in [&command_page, &config_page] {
        assert!(listed.contains(&page.display().to_string()), "{} not reported in:\n{listed}", page.display());
        let roff = std::fs::read_to_string(page).unwrap();
        assert!(roff.contains(".TH "), "{}: no title macro", page.display());
    }
    if !have("man", "man-db") {
        return;
    }

    let text = render(&command_page);
    assert!(text.starts_with("EIGHTFOLD(8)"), "{text}");
    let leaves = leaf_commands();
    assert!(leaves.len() >= 8, "too few commands found in --help: {leaves:?}");
    for (words, options) in &leaves {
        let name = format!("eightfold {}", words.join(" "));
        let heading = format!("   {name}");
        let at =
            text.lines().position(|l| l == heading).unwrap_or_else(|| panic!("no subsection {name:?} in:\n{text}"));
        // The subsection ends where the next subsection (indented 3) or section begins.
        let body: Vec<&str> = text.lines().skip(at + 1).take_while(|l| l.is_empty() || l.starts_with("    ")).collect();
        for option in options {
            assert!(
                body.iter().any(|l| tagged(l, option)),
                "{name}: option {option} not described:\n{}",
                body.join("\n")
            );
        }
    }
    for heading in ["OPTIONS", "EXIT STATUS", "SIGNALS", "ENVIRONMENT", "FILES", "SEE ALSO"] {
        assert!(!section(&text, heading).is_empty(), "{heading} is empty");
    }
    assert!(section(&text, "OPTIONS").iter().any(|l| tagged(l, "--log-level")), "{text}");

    let text = render(&config_page);
    assert!(text.starts_with("EIGHTFOLD.TOML(5)"), "{text}");
    let mut terms = 0;
    for (heading, table) in TABLES {
        let heading = heading.trim_matches('`');
        let lines = section(&text, heading);
        for key in accepted(table) {
            let key = key.rsplit_once('.').unwrap().1;
            assert!(
                lines.iter().any(|l| tagged(l, key)),
                "[{table}] key {key} is not a term of section {heading}:\n{}",
                lines.join("\n")
            );
            terms += 1;
        }
    }
    assert!(terms > 50, "only {terms} keys checked");
}

/// Sources the bash script and asks its completion function, as bash does on TAB, for the
/// words after `line`; the candidates.
fn bash_complete(script: &Path, line: &[&str]) -> BTreeSet<String> {
    let words: Vec<String> = line.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}' && complete -p eightfold >/dev/null && COMP_WORDS=({}) && COMP_CWORD={} && \
         _eightfold eightfold '{}' '{}' && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        words.join(" "),
        line.len() - 1,
        line[line.len() - 1],
        line[line.len().saturating_sub(2)],
    );
    let out = run(Command::new("bash").args(["--norc", "-c", &program]));
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_string).collect()
}

#[test]
fn the_completion_scripts_parse_and_complete_commands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let top: BTreeSet<String> = commands(&[]).into_iter().collect();
    assert!(top.contains("serve") && top.contains("generate"), "{top:?}");
    let serve = options(&eightfold(&["serve", "--help"]));
    assert!(serve.contains("--config") && serve.contains("--listen"), "{serve:?}");

    let bash = dir.path().join("eightfold.bash");
    std::fs::write(&bash, eightfold(&["generate", "completions", "bash"])).unwrap();
    run(Command::new("bash").arg("-n").arg(&bash));
    let offered = bash_complete(&bash, &["eightfold", ""]);
    assert!(top.is_subset(&offered), "bash offers {offered:?} for `eightfold `, not every command of {top:?}");
    let offered = bash_complete(&bash, &["eightfold", "serve", "--"]);
    assert!(serve.is_subset(&offered), "bash offers {offered:?} for `eightfold serve --`, not all of {serve:?}");
    let offered = bash_complete(&bash, &["eightfold", "generate", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(offered.contains(shell), "bash offers {offered:?} for `eightfold generate completions `");
    }

    if have("zsh", "zsh") {
        // zsh finds completion functions on its fpath by their `#compdef` line.
        let functions = dir.path().join("zsh");
        std::fs::create_dir(&functions).unwrap();
        let script = functions.join("_eightfold");
        std::fs::write(&script, eightfold(&["generate", "completions", "zsh"])).unwrap();
        run(Command::new("zsh").arg("-n").arg(&script));
        let program = format!(
            "fpath=('{}' $fpath); autoload -Uz compinit && compinit -u -D && print -r -- ${{_comps[eightfold]}}",
            functions.display()
        );
        let out = run(Command::new("zsh").args(["-f", "-c", &program]));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "_eightfold", "compinit did not register it");
    }

    if have("fish", "fish") {
        let script = dir.path().join("eightfold.fish");
        std::fs::write(&script, eightfold(&["generate", "completions", "fish"])).unwrap();
        run(Command::new("fish").arg("-n").arg(&script));
        let complete = |line: &str| -> BTreeSet<String> {
            let program = format!("source '{}'; complete -C '{line}'", script.display());
            let out = run(Command::new("fish").args(["--no-config", "-c", &program]));
            let text = String::from_utf8(out.stdout).unwrap();
            text.lines().filter_map(|l| l.split('\t').next()).map(str::to_string).collect()
        };
        let offered = complete("eightfold ");
        assert!(top.is_subset(&offered), "fish offers {offered:?} for `eightfold `, not every command of {top:?}");
        let offered = complete("eightfold serve --");
        assert!(serve.is_subset(&offered), "fish offers {offered:?} for `eightfold serve --`, not all of {serve:?}");
    }
}
