//! Arbitrary config and zone-file text: a clear error or a valid config, never a panic.
#![no_main]

use std::path::Path;

use eightfold::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: (&str, &str)| {
    let (config, zone) = data;
    let zone = zone.to_string();
    let _ = Config::parse(config, Path::new("fuzz.toml"), &move |_| Ok(zone.clone()));
    let with_zone = format!("[[zone]]\norigin = \"example.com.\"\nfile = \"z\"\n{config}");
    let zone_text = data.1.to_string();
    let _ = Config::parse(&with_zone, Path::new("fuzz.toml"), &move |_| Ok(zone_text.clone()));
});
