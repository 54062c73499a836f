#!/usr/bin/env bash
# The project's one test command: builds the four Spin components to wasm (exactly as
# spin.toml's build commands do), then runs every test in the workspace — rule unit and
# property tests, store and API tests, the test host's own tests, and the HTTP scenario tests
# that drive the built .wasm files through the host.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --target wasm32-wasip2 --release -p catalogue -p filing -p prescription -p settlement
cargo test --workspace "$@"
