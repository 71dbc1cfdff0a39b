//! The published view: everything a query is answered from, replaced whole.
//!
//! ```text
//!  prober thread (the only holder of the Publisher)
//!     reload: new Catalog ----.
//!     health: new snapshot ---+--> View::new (works out the healthy pools) --> Publisher::publish
//!                                                                                   |
//!                                   arc-swap, lock-free                              v
//!  UDP workers, TCP thread, control <-------- Reader::load / ViewCache::load ---- current View
//! ```
//!
//! A [`View`] is immutable: its zones, the health of every check and the healthy members of
//! every checked multivalue set, all made for each other. Workers only load it; the prober
//! alone publishes, because [`channel`] makes one [`Publisher`] and it cannot be cloned.
//! A catalog that a new view replaces is not freed by whichever worker lets go of it last
//! (in the middle of answering), but by the publisher, off the hot path
//! ([`Publisher::free_retired`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::{ArcSwap, Cache};

use crate::health::HealthSnapshot;
use crate::zone::{Catalog, HealthyPools, Pool, PoolSigned, Rrset};

/// Everything a query is answered from: zones, check states and the healthy pools worked out
/// for exactly these two.
pub struct View {
    catalog: Arc<Catalog>,
    health: HealthSnapshot,
    pools: HealthyPools,
    /// This view's number, new for every view built: answers cached under one view are only
    /// reused under the same one (see [`crate::answer::AnswerCache`]).
    id: u64,
}

/// Numbers for [`View::id`].
static VIEWS: AtomicU64 = AtomicU64::new(1);

impl View {
    /// A view of `catalog` under `health`, with the healthy pools worked out for it.
    pub fn new(catalog: Arc<Catalog>, health: HealthSnapshot) -> View {
        let pools = catalog.healthy_pools(&health);
        View { catalog, health, pools, id: VIEWS.fetch_add(1, Ordering::Relaxed) }
    }

    /// The zone data.
    #[inline]
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// The check states, indexed like the config's checks.
    #[inline]
    pub fn health(&self) -> &HealthSnapshot {
        &self.health
    }

    /// This view's number: two views with the same number are the same view.
    #[inline]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// A view whose healthy pools are those of `pools_of` (tests: pools made for another
    /// catalog must be ignored, not misread).
    #[cfg(test)]
    pub(crate) fn with_pools_of(catalog: Arc<Catalog>, health: HealthSnapshot, pools_of: &Catalog) -> View {
        let pools = pools_of.healthy_pools(&health);
        View { catalog, health, pools, id: VIEWS.fetch_add(1, Ordering::Relaxed) }
    }

    /// A view with no healthy pools, whose answers test each member's health as they draw
    /// (tests: the path a set without a pool takes).
    #[cfg(test)]
    pub(crate) fn unpooled(catalog: Arc<Catalog>, health: HealthSnapshot) -> View {
        View { catalog, health, pools: HealthyPools::default(), id: VIEWS.fetch_add(1, Ordering::Relaxed) }
    }

    /// The healthy members of `set`, a set of this view's catalog, when it has a pool (only
    /// health-checked multivalue sets do; an empty pool: no member is healthy).
    #[inline]
    pub fn pool(&self, set: &Rrset) -> Option<Pool<'_>> {
        self.pools.pool(self.catalog.id(), set)
    }

    /// The signatures DO answers of `set` need under this view's health (pooled sets of
    /// signed zones).
    #[inline]
    pub fn pool_signed(&self, set: &Rrset) -> Option<&PoolSigned> {
        self.pools.signed(self.catalog.id(), set)
    }
}

/// The one store both handles point at.
type Store = Arc<ArcSwap<View>>;

/// Makes the store of `view`: the only [`Publisher`], and a [`Reader`] to clone for every
/// thread that answers or reports.
pub fn channel(view: View) -> (Publisher, Reader) {
    let store: Store = Arc::new(ArcSwap::from_pointee(view));
    (Publisher { store: store.clone(), retired: Retired::default() }, Reader { store })
}

/// A handle that reads the current view; cheap to clone.
#[derive(Clone)]
pub struct Reader {
    store: Store,
}

impl Reader {
    /// The current view.
    pub fn load(&self) -> Arc<View> {
        self.store.load_full()
    }

    /// The current view, borrowed for a short while (one connection's turn): cheaper than
    /// [`Reader::load`], as no reference count is taken while few guards are out.
    pub fn guard(&self) -> arc_swap::Guard<Arc<View>> {
        self.store.load()
    }

    /// A per-thread cache of the current view, for a worker's loop: a load that finds the
    /// view unchanged costs one atomic read and takes no reference count.
    pub fn cache(&self) -> ViewCache<'_> {
        ViewCache { cache: Cache::new(&self.store) }
    }
}

/// A worker's cached handle on the current view (see [`Reader::cache`]). It keeps the view it
/// last loaded alive until its next load, so an idle worker should load now and then.
pub struct ViewCache<'a> {
    cache: Cache<&'a ArcSwap<View>, Arc<View>>,
}

impl ViewCache<'_> {
    /// The current view.
    #[inline]
    pub fn load(&mut self) -> &Arc<View> {
        self.cache.load()
    }
}

/// The handle that replaces the view. [`channel`] makes exactly one, and it cannot be cloned:
/// whoever holds it (the prober thread) is the only publisher.
pub struct Publisher {
    store: Store,
    /// Catalogs that published views replaced, until no reader has them.
    retired: Retired<Catalog>,
}

impl Publisher {
    /// Replaces the view every reader sees. A catalog the new view no longer has is held
    /// here until [`Publisher::free_retired`] finds no reader using it.
    pub fn publish(&mut self, view: View) {
        let catalog = view.catalog.clone();
        let old = self.store.swap(Arc::new(view));
        if !Arc::ptr_eq(&old.catalog, &catalog) {
            self.retired.push(old.catalog.clone());
        }
    }

    /// The current view.
    pub fn current(&self) -> Arc<View> {
        self.store.load_full()
    }

    /// A reader of the same store.
    pub fn reader(&self) -> Reader {
        Reader { store: self.store.clone() }
    }

    /// Frees, on this thread, the replaced catalogs no reader still uses, and hands the
    /// memory back to the kernel; returns whether anything was freed.
    pub fn free_retired(&mut self) -> bool {
        let freed = self.retired.drop_unused();
        if freed {
            release_freed_memory();
        }
        freed
    }

    /// How many replaced catalogs are still held (some reader still has them).
    pub fn retired(&self) -> usize {
        self.retired.len()
    }
}

/// Data a new [`View`] replaced (a reloaded catalog), held by the control side until no view
/// refers to it, and then dropped there. Otherwise the last worker to move to the new view
/// would drop it, in the middle of answering: a catalog of 50,000 zones takes about 70 ms to
/// free, which a worker at full rate would spend not reading its socket.
struct Retired<T> {
    held: Vec<Arc<T>>,
}

impl<T> Default for Retired<T> {
    fn default() -> Self {
        Retired { held: Vec::new() }
    }
}

impl<T> Retired<T> {
    /// Holds `data`, which a view published from now on no longer refers to.
    fn push(&mut self, data: Arc<T>) {
        self.held.push(data);
    }

    /// Drops, on this thread, whatever nothing else refers to any more (a worker that still
    /// answers from an older view keeps it alive); returns whether anything was dropped.
    fn drop_unused(&mut self) -> bool {
        let before = self.held.len();
        // A count of one is this list's own reference: nothing can take a new one from it.
        self.held.retain(|data| Arc::strong_count(data) > 1);
        self.held.len() < before
    }

    /// How many are still held.
    fn len(&self) -> usize {
        self.held.len()
    }
}

/// Hands memory freed after building or dropping zone data back to the kernel (glibc keeps
/// freed heap otherwise, so a big zone's load-time garbage would stay in the resident set).
pub fn release_freed_memory() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records the thread that dropped it.
    struct Tracked(Arc<Mutex<Option<std::thread::ThreadId>>>);

    impl Drop for Tracked {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(std::thread::current().id());
        }
    }

    #[test]
    fn retired_data_is_dropped_by_its_holder_once_no_reader_has_it() {
        let dropped_by = Arc::new(Mutex::new(None));
        let data = Arc::new(Tracked(dropped_by.clone()));
        let reader = data.clone();
        let mut retired = Retired::default();
        retired.push(data);
        assert!(!retired.drop_unused(), "a reader still has it");
        assert_eq!(retired.len(), 1);
        // The reader lets go on another thread: only a count falls there.
        std::thread::spawn(move || drop(reader)).join().unwrap();
        assert!(dropped_by.lock().unwrap().is_none(), "the reader's thread must not drop it");
        assert!(retired.drop_unused());
        assert_eq!(retired.len(), 0);
        assert_eq!(*dropped_by.lock().unwrap(), Some(std::thread::current().id()));
    }

    /// A view over one small zone.
    fn view() -> View {
        let config = crate::config::Config::demo();
        View::new(
            Arc::new(Catalog::build(&config, 0).expect("an unsigned catalog")),
            HealthSnapshot::initial(&config.checks),
        )
    }

    #[test]
    fn a_replaced_catalog_is_held_by_the_publisher_until_no_reader_has_it() {
        let (mut publisher, reader) = channel(view());
        let old = reader.load();
        // New health over the same catalog retires nothing.
        let same = View::new(old.catalog().clone(), old.health().clone());
        publisher.publish(same);
        assert_eq!(publisher.retired(), 0);
        // A reload does; a reader still holding the old view keeps it.
        publisher.publish(view());
        assert_eq!(publisher.retired(), 1);
        assert!(!publisher.free_retired());
        drop(old);
        assert!(publisher.free_retired());
        assert_eq!(publisher.retired(), 0);
        assert_eq!(reader.load().id(), publisher.current().id());
    }
}
