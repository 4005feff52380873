//! The uhid device's report forwarding: kernel events through `uhid::event::decode`, the
//! reports through the core's `CtapHid`, its messages back as `UHID_INPUT2` events. See
//! `pairing_tool_fuzz` for the input format and the checks.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pairing_tool_fuzz::run(data);
});
