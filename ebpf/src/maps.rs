//! Raw access to a loaded program's maps with the `bpf(2)` syscall (aya's
//! typed maps need compile-time key and value sizes): reading their entries
//! for [`RunOutput::maps`](crate::RunOutput::maps) and restoring them to
//! their state right after load. Also `Aligned`, the aligned copy of an
//! object file that loading needs.

use std::os::fd::{AsFd, AsRawFd, RawFd};

use aya::maps::MapData;

/// The most entries read from one map for [`RunOutput::maps`](crate::RunOutput::maps).
pub const MAX_MAP_ENTRIES_DUMPED: usize = 4096;

/// Map contents: key bytes and value bytes per entry.
pub type MapEntries = Vec<(Vec<u8>, Vec<u8>)>;

#[derive(Debug)]
pub(crate) struct MapState {
    pub(crate) name: String,
    fd: RawFd,
    key_size: usize,
    value_size: usize,
    is_array: bool,
    initial: MapEntries,
}

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;

#[repr(C)]
struct MapElemAttr {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

fn bpf_map_call(cmd: libc::c_long, fd: RawFd, key: *const u8, value: *const u8) -> bool {
    let attr = MapElemAttr {
        map_fd: fd as u32,
        _pad: 0,
        key: key as u64,
        value: value as u64,
        flags: 0,
    };
    // SAFETY: `attr` is a valid bpf_attr prefix for the map element commands;
    // the key/value pointers point to buffers of the map's key/value size
    // (or are null where the kernel allows it), which outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            &attr as *const MapElemAttr,
            std::mem::size_of::<MapElemAttr>(),
        )
    };
    ret == 0
}

impl MapState {
    pub(crate) fn new(name: &str, data: &MapData, is_array: bool) -> Option<Self> {
        let info = data.info().ok()?;
        let mut state = Self {
            name: name.to_owned(),
            fd: data.fd().as_fd().as_raw_fd(),
            key_size: info.key_size() as usize,
            value_size: info.value_size() as usize,
            is_array,
            initial: Vec::new(),
        };
        state.initial = state.dump();
        Some(state)
    }

    fn keys(&self) -> Vec<Vec<u8>> {
        let mut keys = Vec::new();
        let mut next = vec![0u8; self.key_size];
        let mut prev: Option<Vec<u8>> = None;
        while keys.len() < MAX_MAP_ENTRIES_DUMPED {
            let key_ptr = prev.as_ref().map_or(std::ptr::null(), |k| k.as_ptr());
            if !bpf_map_call(BPF_MAP_GET_NEXT_KEY, self.fd, key_ptr, next.as_mut_ptr()) {
                break;
            }
            keys.push(next.clone());
            prev = Some(next.clone());
        }
        keys
    }

    pub(crate) fn dump(&self) -> MapEntries {
        let mut out = Vec::new();
        for key in self.keys() {
            let mut value = vec![0u8; self.value_size];
            if bpf_map_call(
                BPF_MAP_LOOKUP_ELEM,
                self.fd,
                key.as_ptr(),
                value.as_mut_ptr(),
            ) {
                out.push((key, value));
            }
        }
        out
    }

    pub(crate) fn restore(&self) {
        if !self.is_array {
            for key in self.keys() {
                bpf_map_call(BPF_MAP_DELETE_ELEM, self.fd, key.as_ptr(), std::ptr::null());
            }
        }
        for (k, v) in &self.initial {
            bpf_map_call(BPF_MAP_UPDATE_ELEM, self.fd, k.as_ptr(), v.as_ptr());
        }
    }
}

/// A copy of an object file in 8-byte aligned storage (aya wants 4).
pub(crate) struct Aligned {
    words: Vec<u64>,
    len: usize,
}

impl Aligned {
    pub(crate) fn new(bytes: &[u8]) -> Self {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u64::from_ne_bytes(b);
        }
        Self {
            words,
            len: bytes.len(),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `words` holds at least `len` initialised bytes; u8 has no
        // alignment or validity requirements.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>(), self.len) }
    }
}
