//! napi-rs's link set-up for a Node addon (symbols resolved by Node at load).

fn main() {
    napi_build::setup();
}
