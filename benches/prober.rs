//! The prober under load: 10,000 checks (half TCP, half HTTP) at a 10 s interval against
//! local listeners, for a bounded time; reports probes per second and the prober thread's
//! CPU time (user and system, from /proc), which must stay a small fraction of one core.
//!
//! Run: `cargo bench --bench prober` (about 40 s). `PROBER_CHECKS` and `PROBER_SECONDS`
//! change the size and the measured window.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eightfold::config::Config;
use eightfold::prober;
use eightfold::server::Shared;
use eightfold::view::{self, View};
use eightfold::zone::Catalog;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

const LISTENERS: usize = 50;
const INTERVAL: u64 = 10;
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK";

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let checks: usize = std::env::var("PROBER_CHECKS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let window: u64 = std::env::var("PROBER_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let stop = Arc::new(AtomicBool::new(false));
    let addrs = start_listeners(stop.clone());
    let mut text =
        String::from("[[zone]]\norigin = \"bench.test.\"\nsoa = \"ns hostmaster 1 2 3 4 5\"\nns = [\"ns\"]\n");
    for i in 0..checks {
        let addr = addrs[i % LISTENERS];
        let kind = if i % 2 == 0 { "TCP" } else { "HTTP" };
        text.push_str(&format!(
            "[[health_check]]\nid = \"c{i}\"\ntype = \"{kind}\"\nip = \"{}\"\nport = {}\nrequest_interval = {INTERVAL}\n",
            addr.ip(),
            addr.port()
        ));
    }
    let config = Config::parse(&text, Path::new("bench.toml"), &|_| Err(std::io::ErrorKind::NotFound.into()))
        .expect("bench config");
    let initial = prober::initial_state(&config);
    let catalog = Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog"));
    let (publisher, reader) = view::channel(View::new(catalog.clone(), initial.snapshot(&config.checks)));
    let shared = Shared::new(reader);
    let prober = prober::spawn(Arc::new(config), catalog, shared.clone(), publisher, initial, None).expect("prober");
    // First probes are spread over one interval; measure after it.
    std::thread::sleep(Duration::from_secs(INTERVAL));
    let tid = prober_thread().expect("prober thread in /proc/self/task");
    let (user0, sys0) = cpu_ticks(&tid);
    let probes0 = probes(&prober);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(window));
    let elapsed = started.elapsed().as_secs_f64();
    let (user1, sys1) = cpu_ticks(&tid);
    let probes1 = probes(&prober);
    let failures: u64 = prober.table.lock().unwrap().checks.iter().map(|s| s.failures).sum();
    shared.stop();
    prober.join();
    stop.store(true, Ordering::Relaxed);
    // SAFETY: sysconf only reads a system constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let user = (user1 - user0) as f64 / hz / elapsed * 100.0;
    let sys = (sys1 - sys0) as f64 / hz / elapsed * 100.0;
    println!(
        "prober: {checks} checks ({} TCP, {} HTTP) every {INTERVAL} s against {LISTENERS} local listeners",
        checks.div_ceil(2),
        checks / 2
    );
    println!(
        "  probes/s      {:.0} (expected {:.0})",
        (probes1 - probes0) as f64 / elapsed,
        checks as f64 / INTERVAL as f64
    );
    println!("  failed probes {failures}");
    println!("  prober CPU    {:.1}% of one core (user {user:.1}%, system {sys:.1}%) over {elapsed:.0} s", user + sys);
}

fn probes(prober: &prober::ProberHandle) -> u64 {
    prober.table.lock().unwrap().checks.iter().map(|s| s.probes).sum()
}

fn prober_thread() -> Option<String> {
    std::fs::read_dir("/proc/self/task").ok()?.flatten().find_map(|task| {
        let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
        (comm.trim() == "prober").then(|| task.file_name().to_string_lossy().into_owned())
    })
}

/// (utime, stime) in clock ticks for a thread of this process.
fn cpu_ticks(tid: &str) -> (u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    // Fields after the ")" that ends the command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0);
    (field(11), field(12))
}

/// Listeners that accept, answer any request with 200, and close; all on one thread.
fn start_listeners(stop: Arc<AtomicBool>) -> Vec<SocketAddr> {
    let mut poll = Poll::new().unwrap();
    let mut listeners = Vec::new();
    for i in 0..LISTENERS {
        let ip = format!("127.0.1.{}", 1 + i % 200);
        let mut l = TcpListener::bind(format!("{ip}:0").parse().unwrap()).unwrap();
        poll.registry().register(&mut l, Token(i), Interest::READABLE).unwrap();
        listeners.push(l);
    }
    let addrs = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    std::thread::spawn(move || {
        let mut events = Events::with_capacity(1024);
        let mut conns: Vec<Option<TcpStream>> = Vec::new();
        let mut buf = [0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            let _ = poll.poll(&mut events, Some(Duration::from_millis(100)));
            for event in events.iter() {
                let t = event.token().0;
                if t < LISTENERS {
                    while let Ok((mut s, _)) = listeners[t].accept() {
                        let slot = conns.iter().position(Option::is_none).unwrap_or_else(|| {
                            conns.push(None);
                            conns.len() - 1
                        });
                        poll.registry().register(&mut s, Token(LISTENERS + slot), Interest::READABLE).unwrap();
                        conns[slot] = Some(s);
                    }
                    continue;
                }
                let slot = t - LISTENERS;
                let Some(s) = conns[slot].as_mut() else { continue };
                let done = match s.read(&mut buf) {
                    Ok(0) => true,
                    Ok(_) => {
                        let _ = s.write_all(RESPONSE);
                        true
                    }
                    Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                };
                if done {
                    if let Some(mut s) = conns[slot].take() {
                        let _ = poll.registry().deregister(&mut s);
                    }
                }
            }
        }
    });
    addrs
}
