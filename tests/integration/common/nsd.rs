//! NLnet Labs' NSD (Debian's `nsd`, which `.ci/run` installs) as a peer authoritative
//! server: it serves a zone file as written, in the foreground on a free loopback port, from
//! a folder of its own, without dropping privileges. NSD forks (a server process and its
//! zone-transfer process), so it runs in a process group of its own and the whole group is
//! killed on drop.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;

use super::ports::{free_port, port_taken, PORT_TRIES};
use super::{message, udp_exchange};

/// How long NSD may take to load the zone and answer.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running NSD.
pub struct Nsd {
    child: Child,
    /// Where it answers (UDP and TCP).
    pub addr: SocketAddr,
    /// Its folder: the config, the zone file, the log.
    pub dir: tempfile::TempDir,
}

impl Nsd {
    /// Serves `zone_text` as `origin`; returns once NSD answers the zone's SOA
    /// authoritatively.
    pub fn start(origin: &str, zone_text: &str) -> Nsd {
        assert!(super::have("nsd"), "nsd is not installed (apt-get install nsd)");
        let mut failure = String::new();
        // The port is free when chosen, but a process outside the tests may take it before
        // NSD binds it: then try another.
        for _ in 0..PORT_TRIES {
            let mut nsd = Self::spawn(origin, zone_text, free_port());
            match nsd.wait_serving(origin) {
                Ok(()) => return nsd,
                Err(e) if port_taken(&e) => failure = e,
                Err(e) => panic!("{e}"),
            }
        }
        panic!("{failure}");
    }

    /// Starts NSD serving `zone_text` as `origin` on 127.0.0.1:`port`.
    fn spawn(origin: &str, zone_text: &str, port: u16) -> Nsd {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().display().to_string();
        std::fs::write(dir.path().join("zone"), zone_text).unwrap();
        let conf = format!(
            "server:
  ip-address: 127.0.0.1@{port}
  port: {port}
  do-ip6: no
  server-count: 1
  username: \"\"
  chroot: \"\"
  zonesdir: \"{path}\"
  database: \"\"
  pidfile: \"{path}/nsd.pid\"
  xfrdfile: \"{path}/xfrd.state\"
  zonelistfile: \"{path}/zone.list\"
  logfile: \"{path}/nsd.log\"
  verbosity: 2
remote-control:
  control-enable: no
zone:
  name: \"{origin}\"
  zonefile: \"zone\"
"
        );
        std::fs::write(dir.path().join("nsd.conf"), conf).unwrap();
        let child = Command::new("nsd")
            .arg("-d")
            .arg("-c")
            .arg(dir.path().join("nsd.conf"))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .expect("start nsd");
        Nsd { child, addr: SocketAddr::from(([127, 0, 0, 1], port)), dir }
    }

    /// Polls until NSD answers `origin`'s SOA authoritatively; why not, with its log, when it
    /// exited or did not in time.
    fn wait_serving(&mut self, origin: &str) -> Result<(), String> {
        let probe = message(origin, RecordType::SOA, None).to_vec().unwrap();
        let until = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("nsd exited ({status}):\n{}", self.log()));
            }
            let answer = udp_exchange(self.addr, &probe, Duration::from_millis(200))
                .and_then(|bytes| hickory_proto::op::Message::from_vec(&bytes).ok());
            if answer.is_some_and(|m| m.authoritative() && m.response_code() == ResponseCode::NoError) {
                return Ok(());
            }
            if Instant::now() >= until {
                return Err(format!("nsd did not serve {origin}:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What NSD logged.
    pub fn log(&self) -> String {
        let mut log = std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default();
        log += &std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        log
    }
}

impl Drop for Nsd {
    fn drop(&mut self) {
        // SAFETY: kill with the negated id of the group this child leads (process_group(0)
        // made its id the group's) and a valid signal number has no memory effects.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- nsd log ---\n{}", self.log());
        }
    }
}
