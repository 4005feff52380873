//! The fake BlueZ: python-dbusmock's `bluez5` template (Debian's `python3-dbusmock`) owning
//! `org.bluez` on the private bus, with one adapter `hci0`. btleplug (the browser's scanner in
//! webauthn-authenticator-rs) talks to it as to the real daemon: `GetManagedObjects`, the
//! adapter's `Powered` property, `SetDiscoveryFilter`, `StartDiscovery`/`StopDiscovery`,
//! `Properties.GetAll` on devices, and the `InterfacesAdded`/`PropertiesChanged` signals. The
//! template answers all of these; [`FakeBluez::adapter_calls`] lets a test check that the
//! browser really scanned through it.
//!
//! An advert is what a radio would report: a new device whose `ServiceData` holds the 20
//! advert bytes under the 128-bit form of UUID 0xFFF9, set again every [`REPEAT`] (each set
//! emits a `PropertiesChanged` signal, which is the only thing btleplug turns into a service data
//! event) until the advertising stops. Invariant: the dbusmock process is stopped by its pid
//! when the [`FakeBluez`] is dropped, and every advert's repeating thread ends with its handle.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use dbus::arg::{RefArg, Variant};
use dbus::blocking::Connection;
use dbus::channel::Channel;

use crate::bus::PrivateBus;
use crate::process::stop_child;

/// The FIDO service data UUID (16-bit 0xFFF9, CTAP 2.2 §11.5 "Hybrid") in the 128-bit form
/// BlueZ uses for `ServiceData` keys.
pub const FIDO_SERVICE_UUID: &str = "0000fff9-0000-1000-8000-00805f9b34fb";
/// How often the fake radio reports the advert again (a phone advertises many times a second;
/// a scanner with duplicate data on reports each).
pub const REPEAT: Duration = Duration::from_millis(150);
const ADAPTER: &str = "hci0";
const ADAPTER_PATH: &str = "/org/bluez/hci0";
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// dbusmock's call log entry: time, method name, arguments.
type CallLogEntry = (u64, String, Vec<Variant<Box<dyn RefArg>>>);

fn connect(address: &str) -> Result<Connection, String> {
    let mut channel =
        Channel::open_private(address).map_err(|e| format!("connecting to {address}: {e}"))?;
    channel
        .register()
        .map_err(|e| format!("registering on {address}: {e}"))?;
    Ok(Connection::from(channel))
}

/// python-dbusmock serving the `bluez5` template on a private bus.
/// Shareable between threads: every call opens its own connection to the bus.
pub struct FakeBluez {
    child: Child,
    address: String,
    devices: AtomicU32,
}

impl FakeBluez {
    /// Starts the mock on `bus`, waits until it owns `org.bluez`, and adds the adapter.
    pub fn start(bus: &PrivateBus) -> Result<Self, String> {
        // Debian's python3 (with python3-dbus and python3-gi), not whatever `python3` is first
        // on PATH (a virtualenv or pyenv has neither).
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "dbusmock", "--template", "bluez5"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus.address())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting python3-dbusmock: {e}"))?;
        let mut me = Self {
            child,
            address: bus.address().to_owned(),
            devices: AtomicU32::new(0),
        };
        let conn = connect(&me.address)?;
        me.wait_for_name(&conn, Duration::from_secs(20))?;
        let bluez = conn.with_proxy("org.bluez", "/", CALL_TIMEOUT);
        let (path,): (String,) = bluez
            .method_call(
                "org.bluez.Mock",
                "AddAdapter",
                (ADAPTER, "hybrid-e2e browser"),
            )
            .map_err(|e| format!("AddAdapter: {e}"))?;
        if path != ADAPTER_PATH {
            return Err(format!("AddAdapter gave {path}, expected {ADAPTER_PATH}"));
        }
        Ok(me)
    }

    fn wait_for_name(&mut self, conn: &Connection, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        let bus = conn.with_proxy(
            "org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            CALL_TIMEOUT,
        );
        loop {
            let owned: Result<(bool,), _> =
                bus.method_call("org.freedesktop.DBus", "NameHasOwner", ("org.bluez",));
            if let Ok((true,)) = owned {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "dbusmock exited ({status}) before owning org.bluez"
                ));
            }
            if start.elapsed() > limit {
                return Err(format!("dbusmock did not own org.bluez within {limit:?}"));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// The method names the adapter received so far (dbusmock's call log), e.g.
    /// `SetDiscoveryFilter`, `StartDiscovery`.
    pub fn adapter_calls(&self) -> Result<Vec<String>, String> {
        let conn = connect(&self.address)?;
        let adapter = conn.with_proxy("org.bluez", ADAPTER_PATH, CALL_TIMEOUT);
        let (calls,): (Vec<CallLogEntry>,) = adapter
            .method_call("org.freedesktop.DBus.Mock", "GetCalls", ())
            .map_err(|e| format!("GetCalls: {e}"))?;
        Ok(calls.into_iter().map(|(_, name, _)| name).collect())
    }

    /// Starts "receiving" `advert` from a new device: added now, its `ServiceData` set again
    /// every [`REPEAT`] until the returned handle is stopped or dropped.
    pub fn advertise(&self, advert: &[u8]) -> Result<Advert, String> {
        let n = self.devices.fetch_add(1, Ordering::SeqCst) + 1;
        // A new random-looking address per advert, as a phone's rotating private address.
        let address = format!("C0:FF:EE:00:{:02X}:{:02X}", (n >> 8) & 0xff, n & 0xff);
        let conn = connect(&self.address)?;
        let bluez = conn.with_proxy("org.bluez", "/", CALL_TIMEOUT);
        let (path,): (String,) = bluez
            .method_call(
                "org.bluez.Mock",
                "AddDevice",
                (ADAPTER, address.as_str(), "phone"),
            )
            .map_err(|e| format!("AddDevice: {e}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let reports = Arc::new(AtomicU32::new(0));
        let data = advert.to_vec();
        let thread = {
            let (stop, reports, path) = (stop.clone(), reports.clone(), path.clone());
            thread::spawn(move || repeat_advert(&conn, &path, &data, &stop, &reports))
        };
        Ok(Advert {
            stop,
            reports,
            thread: Some(thread),
            device_path: path,
            address: self.address.clone(),
        })
    }
}

/// `ServiceData` as BlueZ gives it: 128-bit UUID string -> variant of the bytes.
fn service_data(advert: &[u8]) -> HashMap<String, Variant<Vec<u8>>> {
    let mut service_data = HashMap::new();
    service_data.insert(FIDO_SERVICE_UUID.to_owned(), Variant(advert.to_vec()));
    service_data
}

fn repeat_advert(
    conn: &Connection,
    path: &str,
    advert: &[u8],
    stop: &AtomicBool,
    reports: &AtomicU32,
) -> Result<(), String> {
    let device = conn.with_proxy("org.bluez", path, CALL_TIMEOUT);
    while !stop.load(Ordering::SeqCst) {
        // dbusmock's Properties.Set stores the value and emits PropertiesChanged, which is
        // what BlueZ sends for each report (its Mock.UpdateProperties cannot wrap a dict).
        device
            .method_call::<(), _, _, _>(
                "org.freedesktop.DBus.Properties",
                "Set",
                (
                    "org.bluez.Device1",
                    "ServiceData",
                    Variant(service_data(advert)),
                ),
            )
            .map_err(|e| format!("setting ServiceData on {path}: {e}"))?;
        reports.fetch_add(1, Ordering::SeqCst);
        thread::sleep(REPEAT);
    }
    Ok(())
}

impl Drop for FakeBluez {
    fn drop(&mut self) {
        stop_child(&mut self.child);
    }
}

/// One advert being received; stopping it removes the device, as when the phone goes quiet.
pub struct Advert {
    stop: Arc<AtomicBool>,
    reports: Arc<AtomicU32>,
    thread: Option<JoinHandle<Result<(), String>>>,
    device_path: String,
    address: String,
}

impl Advert {
    /// How many times the advert was reported so far.
    pub fn reports(&self) -> u32 {
        self.reports.load(Ordering::SeqCst)
    }

    /// Stops reporting and removes the device; the repeating thread's error if it had one.
    pub fn stop(mut self) -> Result<(), String> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::SeqCst);
        let result = match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err("advert thread panicked".into())),
            None => return Ok(()),
        };
        if let Ok(conn) = connect(&self.address) {
            let adapter = conn.with_proxy("org.bluez", ADAPTER_PATH, CALL_TIMEOUT);
            let path = dbus::Path::from(self.device_path.clone());
            let _: Result<(), _> =
                adapter.method_call("org.bluez.Adapter1", "RemoveDevice", (path,));
        }
        result
    }
}

impl Drop for Advert {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
