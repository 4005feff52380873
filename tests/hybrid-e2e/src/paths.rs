//! Where the binaries a run uses are: the main workspace's target directory (this crate builds
//! in its `hybrid-e2e/` subfolder, see README), overridable by environment for other layouts.

use std::path::PathBuf;

/// The repository root (this crate lives in `tests/hybrid-e2e`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The main workspace's target directory (`run.sh` passes it as `HYBRID_E2E_MAIN_TARGET`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("HYBRID_E2E_MAIN_TARGET")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// `cable-tunnel-server-backend`, as `run.sh` installs it (`HYBRID_E2E_CABLE_BACKEND` overrides).
pub fn cable_backend_bin() -> PathBuf {
    std::env::var_os("HYBRID_E2E_CABLE_BACKEND")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("hybrid-e2e-tools/bin/cable-tunnel-server-backend"))
}

/// The virtual phone (`cargo build -p virtual-phone` in the main workspace).
pub fn virtual_phone_bin() -> PathBuf {
    std::env::var_os("HYBRID_E2E_VIRTUAL_PHONE")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/virtual-phone"))
}

/// Our reference tunnel server (`cargo build -p tunnel-server` in the main workspace).
pub fn tunnel_server_bin() -> PathBuf {
    std::env::var_os("HYBRID_E2E_TUNNEL_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/tunnel-server"))
}
