//! The filesystem capability against a real directory tree: what a job may read,
//! and every way out refused with a named error.

use std::os::unix::fs::symlink;
use std::path::Path;

use serde_json::{json, Map, Value};
use tributary_capability_filesystem::{EntryKind, FsError, FsPolicy, MAX_READ_BYTES};

fn values(dir: &Path) -> Map<String, Value> {
    json!({"directory": dir.display().to_string()})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// root/
///   granted/ a.txt, docs/b.md, docs/deep/c.csv, bin.dat, link-out -> ../outside/secret.txt,
///            link-in -> a.txt, dirlink -> docs
///   outside/ secret.txt
fn tree() -> tempfile::TempDir {
    let t = tempfile::tempdir().expect("tempdir");
    let g = t.path().join("granted");
    std::fs::create_dir_all(g.join("docs/deep")).expect("mkdir");
    std::fs::create_dir_all(t.path().join("outside")).expect("mkdir");
    std::fs::write(g.join("a.txt"), "alpha").expect("write");
    std::fs::write(g.join("docs/b.md"), "# beta").expect("write");
    std::fs::write(g.join("docs/deep/c.csv"), "x,y\n1,2\n").expect("write");
    std::fs::write(g.join("bin.dat"), [0u8, 159, 146, 150, 255]).expect("write");
    std::fs::write(t.path().join("outside/secret.txt"), "top secret").expect("write");
    symlink("../outside/secret.txt", g.join("link-out")).expect("symlink");
    symlink("a.txt", g.join("link-in")).expect("symlink");
    symlink("docs", g.join("dirlink")).expect("symlink");
    t
}

fn policy(root: &Path) -> FsPolicy {
    FsPolicy {
        roots: vec![root.to_path_buf()],
    }
}

#[test]
fn walk_stat_and_read_inside_the_granted_directory() {
    let t = tree();
    let g = t.path().join("granted");
    let dir = policy(&g)
        .grant(&values(&g))
        .expect("grant")
        .open()
        .expect("open");
    assert_eq!(dir.path(), g.display().to_string());
    let mut walk = dir.walk().expect("walk");
    let mut entries = Vec::new();
    loop {
        // Small steps: the walk is resumable across calls.
        let step = walk.next(2).expect("step");
        if step.is_empty() {
            break;
        }
        assert!(step.len() <= 2);
        entries.extend(step);
    }
    let paths: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "a.txt",
            "bin.dat",
            "dirlink",
            "docs",
            "docs/b.md",
            "docs/deep",
            "docs/deep/c.csv",
            "link-in",
            "link-out"
        ]
    );
    let by = |p: &str| entries.iter().find(|e| e.path == p).expect(p);
    assert_eq!(by("docs").kind, EntryKind::Directory);
    assert_eq!(by("link-in").kind, EntryKind::Symlink);
    let followed = by("link-in").stat.as_ref().expect("inside link resolves");
    assert_eq!((followed.kind, followed.size), (EntryKind::File, 5));
    // The symlink out is reported, its target is not.
    assert!(
        matches!(by("link-out").stat, Err(FsError::Escape { .. })),
        "{:?}",
        by("link-out").stat
    );
    let a = dir.stat("a.txt").expect("stat");
    let std_meta = std::fs::metadata(g.join("a.txt")).expect("std stat");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(a.inode, std_meta.ino());
    assert_eq!(a.size, 5);
    assert_eq!(a.modified.seconds, std_meta.mtime());
    assert_eq!(
        dir.read("docs/deep/c.csv", 0, 100).expect("read"),
        b"x,y\n1,2\n"
    );
    assert_eq!(dir.read("docs/deep/c.csv", 4, 3).expect("chunk"), b"1,2");
    assert!(dir.read("a.txt", 5, 10).expect("eof").is_empty());
    assert_eq!(
        dir.read("bin.dat", 0, 10).expect("read"),
        [0u8, 159, 146, 150, 255]
    );
}

#[test]
fn reads_are_capped_per_call() {
    let t = tempfile::tempdir().expect("tempdir");
    let big = vec![b'x'; MAX_READ_BYTES as usize + 10];
    std::fs::write(t.path().join("big.log"), &big).expect("write");
    let dir = policy(t.path())
        .grant(&values(t.path()))
        .expect("grant")
        .open()
        .expect("open");
    let chunk = dir.read("big.log", 0, u32::MAX).expect("read");
    assert_eq!(chunk.len(), MAX_READ_BYTES as usize);
    let rest = dir
        .read("big.log", MAX_READ_BYTES as u64, u32::MAX)
        .expect("rest");
    assert_eq!(rest.len(), 10);
}

#[test]
fn every_way_out_is_refused_by_name() {
    let t = tree();
    let g = t.path().join("granted");
    let dir = policy(&g)
        .grant(&values(&g))
        .expect("grant")
        .open()
        .expect("open");
    assert!(matches!(
        dir.read("link-out", 0, 100),
        Err(FsError::Escape { .. })
    ));
    assert!(matches!(dir.stat("link-out"), Err(FsError::Escape { .. })));
    assert!(matches!(
        dir.read("../outside/secret.txt", 0, 100),
        Err(FsError::InvalidPath { .. })
    ));
    assert!(matches!(
        dir.read("docs/../../outside/secret.txt", 0, 100),
        Err(FsError::InvalidPath { .. })
    ));
    let abs = t.path().join("outside/secret.txt").display().to_string();
    assert!(matches!(
        dir.read(&abs, 0, 100),
        Err(FsError::InvalidPath { .. })
    ));
    assert!(matches!(
        dir.read("missing.txt", 0, 100),
        Err(FsError::NotFound { .. })
    ));

    // A directory outside every root: refused naming both.
    let outside = t.path().join("outside");
    let e = policy(&g).grant(&values(&outside)).expect_err("outside");
    assert!(matches!(e, FsError::OutsideRoots { .. }));
    let text = e.to_string();
    assert!(
        text.contains(&outside.display().to_string()) && text.contains(&g.display().to_string()),
        "{text}"
    );
    // `..` in the configured directory is refused, not resolved.
    let sneaky = g.join("../outside");
    assert!(matches!(
        policy(&g).grant(&values(&sneaky)),
        Err(FsError::InvalidPath { .. })
    ));
    // A configured directory that is a symlink out of the root.
    symlink("../outside", g.join("escape-dir")).expect("symlink");
    let e = policy(&g)
        .grant(&values(&g.join("escape-dir")))
        .expect("lexically inside")
        .open()
        .expect_err("escape");
    assert!(matches!(e, FsError::Escape { .. }), "{e:?}");
    // No roots: not granted; no directory: named.
    assert_eq!(
        FsPolicy::default().grant(&values(&g)),
        Err(FsError::NotGranted)
    );
    assert_eq!(policy(&g).grant(&Map::new()), Err(FsError::NoDirectory));
    // A subdirectory of a root is fine.
    let sub = policy(t.path())
        .grant(&values(&g.join("docs")))
        .expect("sub");
    assert_eq!(
        sub.open().expect("open").read("b.md", 0, 10).expect("read"),
        b"# beta"
    );
}
