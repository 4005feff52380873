//! Android only: the one JNI entry the app calls at start-up, before opening the
//! `Authenticator` (`com.passkeyphone.app.NativeInit.init(context)`). It gives the Java VM
//! and the app's Context to rustls-platform-verifier, so HTTPS to the workspace and the
//! relay is checked against Android's trust store, and, with the `ble` feature, to btleplug,
//! whose Android backend calls the Bluetooth APIs over JNI.
//!
//! Invariants: no panic reaches the JVM (`with_env` catches it; failures throw a Java
//! `RuntimeException`); calling it twice is harmless.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` names the JNI symbol; there is no other unsafe.

use jni::EnvUnowned;
use jni::objects::{JClass, JObject};

/// Why the Android start-up failed.
#[derive(Debug, thiserror::Error)]
enum InitError {
    #[error("JNI failed: {0}")]
    Jni(#[from] jni::errors::Error),
    #[cfg(feature = "ble")]
    #[error("Bluetooth could not be set up: {0}")]
    Bluetooth(String),
}

/// `NativeInit.init(context)`: a static native method of the Kotlin object `NativeInit`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_com_passkeyphone_app_NativeInit_init<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    context: JObject<'caller>,
) {
    unowned
        .with_env(|env| -> Result<(), InitError> {
            rustls_platform_verifier::android::init_with_env(env, context)?;
            #[cfg(feature = "ble")]
            btleplug::platform::init(env).map_err(|e| InitError::Bluetooth(e.to_string()))?;
            Ok(())
        })
        .resolve::<jni::errors::ThrowRuntimeExAndDefault>()
}
