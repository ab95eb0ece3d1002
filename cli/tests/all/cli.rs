//! The command line itself: flag errors, help and version, the compile cache.

use warden_fixtures as fx;

use crate::support::Warden;

#[test]
fn bad_flags_are_one_line_usage_errors() {
    let w = Warden::new();
    for args in [
        &["run", fx::HELLO, "--allow", "http"][..],
        &["run", fx::HELLO, "--memory", "lots"],
        &["run", fx::HELLO, "--timeout", "5"],
        &["run", fx::HELLO, "--kv-quota", "1KiB"],
        &["run", fx::HELLO, "--stdin", "-"],
        &["run", fx::COMMAND, "--input", "{}"],
        &["frobnicate"],
    ] {
        let out = w.run(args);
        assert_eq!(out.code, 2, "{args:?}: {out:#?}");
        assert!(
            out.error_line().starts_with("error[USAGE]: "),
            "{args:?}: {out:#?}"
        );
    }
    let out = w.run(&["run", fx::HELLO, "--allow", "http"]);
    assert!(out.stderr.contains("--allow-host"), "{out:#?}");
}

#[test]
fn compile_twice_hits_the_cache() {
    let w = Warden::new();
    let out = w.run_ok(&["compile", fx::HELLO, fx::TYPED_EXPORTS]);
    assert!(out.stdout.contains("hello: miss ("), "{out:#?}");
    let out = w.run_ok(&["compile", fx::HELLO, fx::TYPED_EXPORTS]);
    assert!(out.stdout.contains("hello: hit ("), "{out:#?}");
    assert!(out.stdout.contains("typed_exports: hit ("), "{out:#?}");
}

#[test]
fn help_documents_exit_codes_and_version_works() {
    let w = Warden::new();
    let out = w.run(&["--help"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("Exit codes"), "{}", out.stdout);
    let out = w.run(&["help", "run"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("--allow-dir"), "{}", out.stdout);
    let out = w.run(&["--version"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.starts_with("warden "), "{}", out.stdout);
}
