//! C handling: compiling with clang, and wrapping a bare function
//! `int f(void *data, int data_len)` in an XDP program that hands it a copy
//! of the input and the input's real length.

use std::path::Path;
use std::process::Command;

use crate::error::EbpfError;

/// Largest input XDP's `BPF_PROG_TEST_RUN` passes as linear data (the
/// wrapper's bounds are written against it).
pub const MAX_INPUT_LEN: usize = 3520;

/// Name of the XDP entry point generated around a bare function.
pub(crate) const WRAPPER_ENTRY: &str = "warden_entry";
/// Name of the per-CPU scratch map the wrapper copies the input into.
pub(crate) const WRAPPER_SCRATCH: &str = "warden_scratch";

/// Compiles C to a BPF object with clang; diagnostics name the file `snippet.c`.
///
/// With `original`, `c` is generated code (written as `wrapped.c`) whose
/// `#line` directives point into `original` (written as `snippet.c`, so that
/// clang's BTF line info quotes the user's own lines).
pub(crate) fn compile(c: &str, original: Option<&str>) -> Result<Vec<u8>, EbpfError> {
    let dir = tempfile::Builder::new()
        .prefix("warden-ebpf-")
        .tempdir()
        .map_err(|e| EbpfError::io("creating a temporary directory", e))?;
    let main = if original.is_some() {
        "wrapped.c"
    } else {
        "snippet.c"
    };
    let obj = dir.path().join("snippet.o");
    std::fs::write(dir.path().join(main), c)
        .map_err(|e| EbpfError::io(format!("writing {main}"), e))?;
    if let Some(original) = original {
        std::fs::write(dir.path().join("snippet.c"), original)
            .map_err(|e| EbpfError::io("writing snippet.c", e))?;
    }
    let output = Command::new("clang")
        .current_dir(dir.path())
        .args([
            "-target",
            "bpf",
            "-O2",
            "-g",
            "-fno-color-diagnostics",
            "-I/usr/include/x86_64-linux-gnu",
            "-c",
            main,
            "-o",
            "snippet.o",
        ])
        .output()
        .map_err(|e| EbpfError::io("running clang (is it installed?)", e))?;
    if !output.status.success() {
        let mut message = String::from_utf8_lossy(&output.stderr).into_owned();
        message = scrub_paths(&message, dir.path());
        if message.trim().is_empty() {
            message = format!("clang failed with {}", output.status);
        }
        return Err(EbpfError::Compile { message });
    }
    std::fs::read(&obj).map_err(|e| EbpfError::io("reading snippet.o", e))
}

fn scrub_paths(message: &str, dir: &Path) -> String {
    let d = dir.display().to_string();
    message
        .replace(&format!("{d}/snippet.c"), "snippet.c")
        .replace(&format!("{d}/"), "")
        .replace(&d, ".")
}

/// Where the user's entry function is: byte offset of its `int`, and its name.
fn find_function(text: &str) -> Option<(usize, String)> {
    let b = text.as_bytes();
    let is_ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut from = 0;
    while let Some(rel) = text[from..].find("int") {
        let start = from + rel;
        from = start + 3;
        if start > 0 && is_ident(b[start - 1]) {
            continue;
        }
        let mut p = Parser { b, pos: start };
        if let Some(name) = p.signature() {
            return Some((start, name));
        }
    }
    None
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.pos < self.b.len() && self.b[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn ident(&mut self) -> Option<String> {
        self.ws();
        let start = self.pos;
        while self.pos < self.b.len()
            && (self.b[self.pos].is_ascii_alphanumeric() || self.b[self.pos] == b'_')
        {
            self.pos += 1;
        }
        if start == self.pos || self.b[start].is_ascii_digit() {
            return None;
        }
        Some(String::from_utf8_lossy(&self.b[start..self.pos]).into_owned())
    }

    fn punct(&mut self, c: u8) -> Option<()> {
        self.ws();
        if self.b.get(self.pos) == Some(&c) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    fn keyword(&mut self, k: &str) -> Option<()> {
        (self.ident()? == k).then_some(())
    }

    /// `int NAME ( void * ID , int ID ) {`
    fn signature(&mut self) -> Option<String> {
        self.keyword("int")?;
        let name = self.ident()?;
        self.punct(b'(')?;
        self.keyword("void")?;
        self.punct(b'*')?;
        self.ident()?;
        self.punct(b',')?;
        self.keyword("int")?;
        self.ident()?;
        self.punct(b')')?;
        self.punct(b'{')?;
        Some(name)
    }
}

/// Wraps a bare function in an XDP program (see the crate docs).
pub(crate) fn wrap_function(text: &str) -> Result<String, EbpfError> {
    let (at, name) = find_function(text).ok_or_else(|| EbpfError::InvalidSource {
        message:
            "no function definition of the shape `int NAME(void *data, int data_len) { … }` found"
                .into(),
    })?;
    if name == WRAPPER_ENTRY {
        return Err(EbpfError::InvalidSource {
            message: format!("the name `{WRAPPER_ENTRY}` is reserved"),
        });
    }
    let (before, after) = text.split_at(at);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let prefix = before[line_start..].trim();
    let has_static = prefix.split_whitespace().any(|w| w == "static");
    let qualifier = if has_static {
        "__always_inline"
    } else {
        "static __always_inline"
    };
    let head = format!(
        r#"#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#line 1 "snippet.c"
{before}{qualifier}
#line {line} "snippet.c"
{after}
"#
    );
    let wrapper_line = head.matches('\n').count() + 2;
    Ok(format!(
        r#"{head}#line {wrapper_line} "wrapped.c"
struct warden_buf {{ unsigned char b[4096]; }};
struct {{
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct warden_buf);
}} {scratch} SEC(".maps");

SEC("xdp")
int {entry}(struct xdp_md *ctx)
{{
    void *data = (void *)(long)ctx->data;
    void *data_end = (void *)(long)ctx->data_end;
    void *meta = (void *)(long)ctx->data_meta;
    __u32 pkt_len = (__u32)(data_end - data);
    __u32 len = pkt_len;
    if (meta + 4 <= data)
        len = *(__u32 *)meta;
    if (len > pkt_len)
        len = pkt_len;
    if (len > {max})
        len = {max};
    /* Masks keep the verifier's bounds tight through clang's rewrites:
       n is in [1, 4096], len in [0, 4095]. */
    __u64 n = pkt_len;
    if (n > {max})
        n = {max};
    n = ((n - 1) & 4095) + 1;
    __u64 real = len & 4095;
    __u32 zero = 0;
    struct warden_buf *buf = bpf_map_lookup_elem(&{scratch}, &zero);
    if (!buf)
        return 0;
    if (bpf_xdp_load_bytes(ctx, 0, buf->b, n) < 0)
        return 0;
    return {name}(buf->b, (int)real);
}}

char _license[] SEC("license") = "GPL";
"#,
        max = MAX_INPUT_LEN,
        scratch = WRAPPER_SCRATCH,
        entry = WRAPPER_ENTRY,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_function_name() {
        let src = "// hi\nstatic int helper(int x) { return x; }\nint my_fn ( void *d, int l )\n{ return l; }";
        let (at, name) = find_function(src).expect("found");
        assert_eq!(name, "my_fn");
        assert!(src[at..].starts_with("int my_fn"));
        assert!(find_function("int f(void *d, long l) { return 0; }").is_none());
        assert!(find_function("int f(void *d, int l);").is_none());
    }

    #[test]
    fn wrapper_keeps_line_numbers() {
        let c = wrap_function("\n\nint f(void *data, int data_len) { return data_len; }")
            .expect("wraps");
        assert!(c.contains("static __always_inline\n#line 3 \"snippet.c\"\nint f("));
        let c =
            wrap_function("static int f(void *data, int data_len) { return 0; }").expect("wraps");
        assert!(c.contains("static __always_inline\n#line 1"));
    }
}
