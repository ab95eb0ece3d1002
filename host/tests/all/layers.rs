//! No import cycle among the modules of warden's crates (the check that
//! `cargo modules dependencies --acyclic` makes, without installing it).
//!
//! Every `crate::…` and `super::…` path in a module's non-test code is an
//! edge to the module it names. Two modules are compared at the level where
//! they part: an edge from `plugin::load` to `host` counts as `plugin → host`,
//! one from `capabilities::kv` to `capabilities::meter` as `kv → meter`.
//! Edges between a module and its own ancestors (a `mod.rs` re-exporting its
//! children, a child using its parent's items) are how Rust modules nest and
//! are not counted. The graph that remains must have no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

/// Every module of the crate whose sources are in `src`, with its source.
fn modules(src: &Path) -> BTreeMap<Module, String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(src, &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src).unwrap().with_extension("");
        let mut path: Module = rel.iter().map(|c| c.to_string_lossy().into()).collect();
        if matches!(
            path.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            path.pop();
        }
        out.insert(path, std::fs::read_to_string(&f).unwrap());
    }
    out
}

/// The code that counts: not comments, not the unit tests (which sit at the
/// end under `#[cfg(test)]` and may use anything).
fn code_of(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths after `crate::` or `super::` (groups `{a, b::c}` expanded one level).
fn paths_after(code: &str, prefix: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> Vec<String> {
        s.split("::")
            .map(|seg| {
                seg.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|seg| !seg.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices(prefix) {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let rest = &code[i + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let end = group
                .find(|c| {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => return true,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    false
                })
                .unwrap_or(group.len());
            for item in group[..end].split(',') {
                let p = ident(item.trim());
                if !p.is_empty() {
                    out.push(p);
                }
            }
        } else {
            let rest_end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let p = ident(&rest[..rest_end]);
            if !p.is_empty() {
                out.push(p);
            }
        }
    }
    out
}

/// The longest prefix of `path` that is a module.
fn resolve(mods: &BTreeMap<Module, String>, path: &[String]) -> Module {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|p| mods.contains_key(p))
        .unwrap_or_default()
}

/// The edges between modules, each lifted to where the two modules part.
fn edges(mods: &BTreeMap<Module, String>) -> BTreeSet<(Module, Module)> {
    let mut out = BTreeSet::new();
    for (from, text) in mods {
        let code = &code_of(text);
        let parent: Module = from[..from.len().saturating_sub(1)].to_vec();
        let mut targets: Vec<Module> = paths_after(code, "crate::")
            .into_iter()
            .map(|p| resolve(mods, &p))
            .collect();
        for p in paths_after(code, "super::") {
            let mut full = parent.clone();
            full.extend(p);
            targets.push(resolve(mods, &full));
        }
        for to in targets {
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common == from.len() || common == to.len() {
                continue; // itself, an ancestor or a descendant
            }
            out.insert((from[..=common].to_vec(), to[..=common].to_vec()));
        }
    }
    out
}

/// A cycle in the graph, if there is one.
fn find_cycle(edges: &BTreeSet<(Module, Module)>) -> Option<Vec<Module>> {
    let mut next: BTreeMap<&Module, Vec<&Module>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    // 0 unseen, 1 on the stack, 2 done.
    fn visit<'a>(
        m: &'a Module,
        next: &BTreeMap<&'a Module, Vec<&'a Module>>,
        state: &mut BTreeMap<&'a Module, u8>,
        stack: &mut Vec<&'a Module>,
    ) -> Option<Vec<Module>> {
        state.insert(m, 1);
        stack.push(m);
        for &n in next.get(m).into_iter().flatten() {
            match state.get(n).copied().unwrap_or(0) {
                1 => {
                    let at = stack.iter().position(|s| *s == n).unwrap();
                    let mut cycle: Vec<Module> = stack[at..].iter().map(|m| (*m).clone()).collect();
                    cycle.push(n.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(n, next, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m, 2);
        None
    }
    let mut state = BTreeMap::new();
    for &m in next.keys() {
        if state.get(m).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(c) = visit(m, &next, &mut state, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

fn assert_acyclic(krate: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src");
    let mods = modules(&src);
    assert!(!mods.is_empty(), "no modules found in {}", src.display());
    let edges = edges(&mods);
    if let Some(cycle) = find_cycle(&edges) {
        let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
        panic!("import cycle in {krate}: {}", names.join(" -> "));
    }
}

#[test]
fn the_checker_finds_a_cycle_and_ignores_nesting() {
    let m = |p: &[&str], code: &str| -> (Module, String) {
        (p.iter().map(|s| s.to_string()).collect(), code.to_string())
    };
    let mods: BTreeMap<_, _> = [
        m(&[], "mod a; mod b;"),
        m(&["a"], "pub use self::x::X; use crate::b::B;"),
        m(&["a", "x"], "use super::Y;"),
        m(&["b"], "use crate::{a::x::X, lock};"),
    ]
    .into();
    let e = edges(&mods);
    assert!(e.contains(&(vec!["b".into()], vec!["a".into()])), "{e:?}");
    let cycle = find_cycle(&e).expect("a -> b -> a");
    assert_eq!(cycle.len(), 3, "{cycle:?}");

    let mods: BTreeMap<_, _> = [
        m(&[], ""),
        m(&["a"], "mod x; pub use x::X;"),
        m(&["a", "x"], "use super::Y; use crate::b;"),
        m(&["b"], "// use crate::a;\n"),
    ]
    .into();
    assert_eq!(find_cycle(&edges(&mods)), None);
}

#[test]
fn host_modules_have_no_import_cycle() {
    assert_acyclic("host");
}

#[test]
fn other_crates_have_no_import_cycle() {
    for krate in [
        "api",
        "runtimes",
        "cli",
        "ebpf",
        "bench",
        "adapters/js/engine",
    ] {
        assert_acyclic(krate);
    }
}
