//! The only host `bindgen!`: the `warden:plugin/plugin` world. WASI comes from
//! wasmtime-wasi and wasmtime-wasi-http, linked separately.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "warden:plugin/plugin",
    imports: {
        "warden:plugin/host.call": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub use warden::plugin::types::Error as WitError;
