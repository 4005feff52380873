//! Shared by the integration tests: the OBR fixtures (`obr`). The doubles (user, key
//! protector, clock) are the test kit's (`authenticator_core::testkit`).
#![allow(dead_code)]

pub mod obr;
