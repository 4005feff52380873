//! The registry of settings: every named setting the core keeps in the vault's settings table,
//! declared here once, so that two parts of the core cannot pick the same name for different
//! things (or two names for one thing) without it showing in this file.
//!
//! Invariants: each variant has one stored name, fixed for ever (renaming one would orphan the
//! value in every existing vault: add a migration instead); names are distinct (tested);
//! `ALL` lists every variant (tested through `index`). Names are fixed identifiers, never
//! personal data, so errors may name them.

/// One setting of the vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Setting {
    /// CTAP 2.1 §6.11.2 alwaysUv, toggled by authenticatorConfig (a bool; absent is off).
    AlwaysUv,
    /// The enrollment with the workspace (`enroll::state::Enrollment`).
    EnrollmentState,
    /// The device's signing key for the workspace API (secret bytes).
    DeviceKey,
    /// The phone's static key for OBR sessions (secret bytes).
    ObrKey,
    /// Whether and where the OBR key was registered with the workspace.
    ObrKeyRegistered,
    /// The on-behalf registration requests waiting for the user.
    ObrPending,
    /// The grants an administrator stopped, with when.
    ObrStopped,
    /// The grant ids seen, against replays.
    ObrSeenGrants,
}

impl Setting {
    /// Every setting, in declaration order.
    #[cfg(test)]
    pub const ALL: [Setting; 8] = [
        Setting::AlwaysUv,
        Setting::EnrollmentState,
        Setting::DeviceKey,
        Setting::ObrKey,
        Setting::ObrKeyRegistered,
        Setting::ObrPending,
        Setting::ObrStopped,
        Setting::ObrSeenGrants,
    ];

    /// The name the setting is stored under.
    pub const fn name(self) -> &'static str {
        match self {
            Setting::AlwaysUv => "ctap.always_uv",
            Setting::EnrollmentState => "enroll.state",
            Setting::DeviceKey => "enroll.device_key",
            Setting::ObrKey => "enroll.obr_key",
            Setting::ObrKeyRegistered => "enroll.obr_key_registered",
            Setting::ObrPending => "obr.pending",
            Setting::ObrStopped => "obr.stopped",
            Setting::ObrSeenGrants => "obr.seen_grants",
        }
    }

    /// The position in `ALL`; a new variant fails to compile here until it is listed.
    #[cfg(test)]
    const fn index(self) -> usize {
        match self {
            Setting::AlwaysUv => 0,
            Setting::EnrollmentState => 1,
            Setting::DeviceKey => 2,
            Setting::ObrKey => 3,
            Setting::ObrKeyRegistered => 4,
            Setting::ObrPending => 5,
            Setting::ObrStopped => 6,
            Setting::ObrSeenGrants => 7,
        }
    }
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn all_lists_every_setting_once() {
        for (i, setting) in Setting::ALL.iter().enumerate() {
            assert_eq!(setting.index(), i, "{setting:?} is out of place in ALL");
        }
    }

    #[test]
    fn no_two_settings_share_a_name() {
        let names: BTreeSet<&str> = Setting::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(
            names.len(),
            Setting::ALL.len(),
            "two settings collide: {names:?}"
        );
        for name in names {
            let (area, word) = name.split_once('.').expect("names are area.word");
            assert!(
                ["ctap", "enroll", "obr"].contains(&area) && !word.is_empty(),
                "{name}: an unknown area"
            );
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'),
                "{name}: names are lowercase identifiers"
            );
        }
    }
}
