//! The status page (`GET /`) in a real browser: headless Chromium (Debian's `chromium`,
//! which `.ci/run` installs) loads it from the running server, runs its script and prints the
//! rendered page, once while every check is up and once after an endpoint went down. Without
//! Chromium the browser test fails under CI and says so and passes elsewhere. Also: the page
//! and `/status?history=1` behind it, over plain HTTP.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::endpoints::{eventually, Behaviour, HttpEndpoint};
use crate::common::*;

/// A check id that would be markup if the page put server text into HTML unescaped.
const MARKUP_ID: &str = "<img src=x onerror=alert(1)>";

/// Two HTTP checks probed every second, `web-2` unhealthy after one failure, behind the
/// multivalue set `www`; a disabled check whose id is markup; a control token, which reads
/// (the page, `/status`) do not need.
fn start(web_1: &HttpEndpoint, web_2: &HttpEndpoint) -> TestServer {
    let check = |id: &str, ep: &HttpEndpoint| {
        format!(
            "[[health_check]]\nid = \"{id}\"\ntype = \"HTTP\"\nip = \"{}\"\nport = {}\nrequest_interval = 1\n\
             failure_threshold = 1\n",
            ep.addr.ip(),
            ep.addr.port()
        )
    };
    let member = |set_id: &str, value: &str, check: &str| {
        format!(
            "[[record]]\nname = \"www\"\ntype = \"A\"\nttl = 60\nrouting = \"multivalue\"\nset_id = \"{set_id}\"\n\
             values = [\"{value}\"]\nhealth_check = \"{check}\"\n"
        )
    };
    let config = format!(
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\ncontrol = \"127.0.0.1:0\"\n\
         control_token = \"0123456789abcdef0123\"\n{ZONE_BODY}{}{}\
         [[health_check]]\nid = \"{MARKUP_ID}\"\ntype = \"TCP\"\nip = \"127.0.0.1\"\nport = 9\ndisabled = true\n{}{}",
        check("web-1", web_1),
        check("web-2", web_2),
        member("one", "192.0.2.1", "web-1"),
        member("two", "192.0.2.2", "web-2"),
    );
    TestServer::start_config(&config, &[("example.com.zone", ZONE)], &[])
}

/// The `checks` entry of check `id` in `/status`.
fn check_status(s: &TestServer, id: &str) -> serde_json::Value {
    let (code, body) = s.http("GET", &format!("/status?name={id}&history=1"), "", "");
    assert_eq!(code, 200, "{body}");
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    status["checks"].as_array().and_then(|c| c.iter().find(|c| c["id"] == id)).cloned().unwrap_or_default()
}

#[test]
fn the_page_renders_in_a_browser_and_shows_a_check_going_down() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing under CI: install it (apt-get install chromium; .ci/run does)"
        );
        eprintln!("chromium is not installed (apt-get install chromium); SKIPPING the status page browser test");
        return;
    };
    let (web_1, web_2) = (HttpEndpoint::start("127.0.0.71"), HttpEndpoint::start("127.0.0.72"));
    let s = start(&web_1, &web_2);
    let url = format!("http://{}/", s.control.unwrap());
    let limit = Duration::from_secs(10);
    let probed = |id: &str| check_status(&s, id)["history"].as_array().is_some_and(|h| !h.is_empty());
    assert!(eventually(limit, || probed("web-1") && probed("web-2")), "{}", s.output());

    let page = rendered(&browser, &url, s.dir.path());
    let summary = element(&page, "id=\"summary\"");
    assert!(summary.contains("eightfold ") && summary.contains("reloads 0"), "the script ran: {summary}");
    for id in ["web-1", "web-2"] {
        let row = element(&page, &format!("data-check=\"{id}\""));
        assert!(row.contains("data-state=\"healthy\""), "{row}");
        assert!(row.contains("Success: HTTP Status Code 200"), "{row}");
        assert!(row.contains("class=\"probe ok\"") && !row.contains("probe fail"), "{row}");
    }
    assert!(element(&page, "data-set=\"www.example.com. A\"").contains("2/2 healthy"), "{page}");
    // The id that is markup shows as text, and made no element.
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"), "{page}");
    assert!(!page.contains(MARKUP_ID), "server text became markup:\n{page}");

    web_2.set(Behaviour::Respond(503, "down".into()));
    assert!(eventually(limit, || check_status(&s, "web-2")["healthy"] == false), "{}", s.output());

    let page = rendered(&browser, &url, s.dir.path());
    let row = element(&page, "data-check=\"web-2\"");
    assert!(row.contains("data-state=\"unhealthy\""), "{row}");
    assert!(row.contains("<span class=\"unhealthy\">unhealthy</span>"), "{row}");
    assert!(row.contains("Failure: HTTP Status Code 503"), "{row}");
    assert!(row.contains("class=\"probe ok\"") && row.contains("class=\"probe fail\""), "the history: {row}");
    assert!(element(&page, "data-check=\"web-1\"").contains("data-state=\"healthy\""), "{page}");
    let set = element(&page, "data-set=\"www.example.com. A\"");
    assert!(set.contains("1/2 healthy") && set.contains("below max_answers 8"), "{set}");
    assert!(element(&page, "data-member=\"two\"").contains("data-state=\"unhealthy\""), "{page}");
    assert!(element(&page, "id=\"counts\"").contains("1 unhealthy"), "{page}");
}

#[test]
fn the_page_and_the_history_behind_it_need_no_token() {
    let (web_1, web_2) = (HttpEndpoint::start("127.0.0.73"), HttpEndpoint::start("127.0.0.74"));
    web_2.set(Behaviour::Respond(503, "".into()));
    let s = start(&web_1, &web_2);

    let mut stream = std::net::TcpStream::connect(s.control.unwrap()).unwrap();
    std::io::Write::write_all(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    let (head, page) = response.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.contains("Content-Type: text/html; charset=utf-8"), "{head}");
    let policy = head.lines().find_map(|l| l.strip_prefix("Content-Security-Policy: ")).expect("a policy");
    assert!(policy.starts_with("default-src 'none'; script-src 'sha256-"), "{policy}");
    assert!(policy.contains("connect-src 'self'") && !policy.contains("unsafe"), "{policy}");
    assert!(page.contains("<script>") && page.contains("status?history=1"), "{page}");
    assert!(!page.contains("://") && !page.contains(" src="), "nothing loaded from elsewhere");

    let limit = Duration::from_secs(10);
    assert!(eventually(limit, || check_status(&s, "web-2")["history"].as_array().is_some_and(|h| h.len() >= 2)));
    let history = check_status(&s, "web-2")["history"].clone();
    let last = &history.as_array().unwrap()[history.as_array().unwrap().len() - 1];
    assert_eq!(last["result"], "failure", "{history}");
    assert_eq!(last["reason"], "Failure: HTTP Status Code 503", "{history}");
    assert!(last["checked"].as_u64().is_some() && last["latency_ms"].as_f64().is_some(), "{history}");
    // Without history=1 the report is as before.
    let (_, body) = s.http("GET", "/status", "", "");
    assert!(!body.contains("\"history\""), "{body}");
    let (code, body) = s.http("GET", "/status?history=maybe", "", "");
    assert_eq!(code, 400, "{body}");
}

/// The first `<...>` element holding `marker` in its start tag, up to its end tag (a row, a
/// paragraph): what a test reads of one thing on the page.
fn element<'a>(page: &'a str, marker: &str) -> &'a str {
    let at = page.find(marker).unwrap_or_else(|| panic!("{marker} is not on the page:\n{page}"));
    let start = page[..at].rfind('<').unwrap_or(0);
    let tag: String = page[start + 1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let close = format!("</{tag}>");
    let end = page[at..].find(&close).map_or(page.len(), |i| at + i + close.len());
    &page[start..end]
}

/// Chromium's path, when it is installed.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].into_iter().find_map(|name| {
        let out = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
    })
}

/// The page at `url` as the browser rendered it, its script run (`--dump-dom`), with a
/// profile of its own in `dir`.
fn rendered(browser: &Path, url: &str, dir: &Path) -> String {
    let out = dir.join("dom.html");
    let mut child = Command::new(browser)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run", "--virtual-time-budget=2000"])
        .arg(format!("--user-data-dir={}", dir.join("chromium-profile").display()))
        .args(["--dump-dom", url])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::read_to_string(&out).unwrap()
}
