//! Lexical checks on a script's text that decide its entry convention
//! before QuickJS compiles it: whether it has an `export` statement, and
//! whether it starts as a function expression. They skip strings, template
//! literals and comments; they do not parse.

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// The index of the first byte at or after `i` that is neither whitespace
/// nor inside a comment.
fn skip_trivia(b: &[u8], mut i: usize) -> usize {
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i = (i + 2).min(b.len());
        } else {
            return i;
        }
    }
}

/// The identifier at `i`, if one starts there.
fn word(b: &[u8], i: usize) -> &[u8] {
    let end = b[i..].iter().position(|&c| !is_ident(c)).map_or(b.len(), |n| i + n);
    &b[i..end]
}

/// The index just past the `)` that closes the `(` at `open`, skipping
/// strings, template literals and comments inside.
fn close_paren(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        let j = skip_trivia(b, i);
        if j != i {
            i = j;
            continue;
        }
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return (b[i] == b')').then_some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// What a source that is not a module starts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// An arrow function (`(input) => …`, `x => …`, `async (i) => …`).
    Arrow,
    /// `function …` or `async function …`: a function expression, or a
    /// script that declares a function and goes on.
    Function,
    /// Anything else: a script.
    Other,
}

/// How `source` starts (after whitespace and comments).
pub(crate) fn start_of(source: &str) -> Start {
    let b = source.as_bytes();
    let mut i = skip_trivia(b, 0);
    if i >= b.len() {
        return Start::Other;
    }
    if word(b, i) == b"async" {
        // `async function`, `async (…) =>`, `async x =>`; not `async => …`.
        let after = skip_trivia(b, i + 5);
        if after < b.len() && (b[after] == b'(' || is_ident(b[after])) {
            i = after;
        }
    }
    match word(b, i) {
        b"function" => return Start::Function,
        w if !w.is_empty() && !w[0].is_ascii_digit() => {
            let after = skip_trivia(b, i + w.len());
            if b[after..].starts_with(b"=>") {
                return Start::Arrow;
            }
            return Start::Other;
        }
        _ => {}
    }
    if b[i] == b'('
        && let Some(end) = close_paren(b, i)
        && b[skip_trivia(b, end)..].starts_with(b"=>")
    {
        return Start::Arrow;
    }
    Start::Other
}

/// Whether `source` has an `export` statement (outside strings and comments):
/// then it is an ES module.
pub(crate) fn has_export_statement(source: &str) -> bool {
    let b = source.as_bytes();
    // Brace depth inside each open template substitution `${ … }`.
    let mut templates: Vec<u32> = Vec::new();
    let mut in_template = false;
    let mut i = 0;
    let mut prev_sig = b';'; // last significant byte before the current token
    while i < b.len() {
        let c = b[i];
        if in_template {
            match c {
                b'\\' => i += 1,
                b'`' => in_template = false,
                b'$' if b.get(i + 1) == Some(&b'{') => {
                    templates.push(0);
                    in_template = false;
                    i += 1;
                }
                _ => {}
            }
            i += 1;
            prev_sig = b')';
            continue;
        }
        match c {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'\'' | b'"' => {
                i += 1;
                while i < b.len() && b[i] != c && b[i] != b'\n' {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                prev_sig = b')';
                continue;
            }
            b'`' => {
                in_template = true;
                i += 1;
                continue;
            }
            b'{' => {
                if let Some(d) = templates.last_mut() {
                    *d += 1;
                }
            }
            b'}' => match templates.last_mut() {
                Some(0) => {
                    templates.pop();
                    in_template = true;
                    i += 1;
                    continue;
                }
                Some(d) => *d -= 1,
                None => {}
            },
            _ if is_ident(c) => {
                let start = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                if &b[start..i] == b"export" && prev_sig != b'.' {
                    let next = b[i..].iter().copied().find(|c| !c.is_ascii_whitespace());
                    if matches!(next, Some(b'{' | b'*'))
                        || next.is_some_and(|n| n.is_ascii_alphabetic())
                    {
                        return true;
                    }
                }
                prev_sig = b'a';
                continue;
            }
            _ => {}
        }
        if !c.is_ascii_whitespace() {
            prev_sig = c;
        }
        i += 1;
    }
    false
}

