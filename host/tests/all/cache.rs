//! The `.cwasm` cache: miss, hit, and corruption (recompiled, never a crash).

use warden_fixtures as fx;
use warden_host::{CacheStatus, Host, Policy};

fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn miss_hit_and_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::builder().cache_dir(dir.path()).build().unwrap();

    let first = host.load_file(fx::HELLO).unwrap();
    assert_eq!(first.cache_status(), CacheStatus::Miss);
    let files = entries(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        files[0]
            .to_string_lossy()
            .contains(host.engine().fingerprint())
    );

    // A second host (a restart) hits.
    let host2 = Host::builder().cache_dir(dir.path()).build().unwrap();
    let hit = host2.load_file(fx::HELLO).unwrap();
    assert_eq!(hit.cache_status(), CacheStatus::Hit);
    assert!(
        hit.run(Policy::deny_all(), "{}")
            .await
            .unwrap()
            .output
            .contains("hello")
    );

    // The host still has it loaded: shared, the file is not read.
    assert_eq!(
        host2.load_file(fx::HELLO).unwrap().cache_status(),
        CacheStatus::Shared
    );
    drop(hit);

    // Flip one byte in the payload: recompiled and replaced, and it runs.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&files[0], &bytes).unwrap();
    let replaced = host2.load_file(fx::HELLO).unwrap();
    assert_eq!(replaced.cache_status(), CacheStatus::Replaced);
    assert!(replaced.run(Policy::deny_all(), "{}").await.is_ok());
    drop(replaced);
    assert_eq!(
        host2.load_file(fx::HELLO).unwrap().cache_status(),
        CacheStatus::Hit
    );

    // Truncated to nothing: same (nothing of it is loaded any more).
    std::fs::write(&files[0], b"").unwrap();
    assert_eq!(
        host2.load_file(fx::HELLO).unwrap().cache_status(),
        CacheStatus::Replaced
    );

    // A different engine configuration (fuel) uses a different entry.
    let fuel_host = Host::builder()
        .cache_dir(dir.path())
        .engine(warden_host::EngineOptions {
            fuel: true,
            ..Default::default()
        })
        .build()
        .unwrap();
    assert_ne!(
        fuel_host.engine().fingerprint(),
        host.engine().fingerprint()
    );
    assert_eq!(
        fuel_host.load_file(fx::HELLO).unwrap().cache_status(),
        CacheStatus::Miss
    );
    assert_eq!(entries(dir.path()).len(), 2);
}

#[test]
fn no_cache_dir_means_disabled() {
    let host = Host::builder().build().unwrap();
    assert_eq!(
        host.load_file(fx::HELLO).unwrap().cache_status(),
        CacheStatus::Disabled
    );
}

/// The same bytes loaded twice while the first is alive share one compiled
/// component (code and memory images), under any name; once every plugin of
/// it is dropped, a load goes back to the disk cache.
#[tokio::test(flavor = "multi_thread")]
async fn a_loaded_component_is_shared() {
    let dir = tempfile::tempdir().unwrap();
    let host = Host::builder().cache_dir(dir.path()).build().unwrap();
    let bytes = std::fs::read(fx::HELLO).unwrap();
    let first = host.load_bytes("a", &bytes).unwrap();
    assert_eq!(first.cache_status(), CacheStatus::Miss);
    let second = host.load_bytes("b", &bytes).unwrap();
    assert_eq!(second.cache_status(), CacheStatus::Shared);
    assert_eq!(second.name(), "b");
    assert_eq!(second.content_hash(), first.content_hash());
    assert_eq!(
        second.component().image_range(),
        first.component().image_range()
    );
    // Both run; other bytes are not shared.
    for p in [&first, &second] {
        let out = p.run(Policy::deny_all(), r#"{"name":"x"}"#).await.unwrap();
        assert!(out.output.contains("hello"), "{}", out.output);
    }
    assert_eq!(
        host.load_file(fx::KV_COUNTER).unwrap().cache_status(),
        CacheStatus::Miss
    );
    drop((first, second));
    assert_eq!(
        host.load_bytes("c", &bytes).unwrap().cache_status(),
        CacheStatus::Hit
    );
}
