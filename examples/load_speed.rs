//! Scratch: times config load and catalog build for a zone (not committed).
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let start = std::time::Instant::now();
    let config = eightfold::config::Config::load(std::path::Path::new(&path)).unwrap();
    let loaded = start.elapsed();
    let catalog = eightfold::zone::Catalog::build(&config);
    println!("config {:?}, catalog {:?}, names {}", loaded, start.elapsed() - loaded, catalog.zones()[0].node_count());
}
