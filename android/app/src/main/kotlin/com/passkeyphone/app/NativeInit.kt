// The JNI entry point of the core for what uniffi cannot do: btleplug needs the JNIEnv
// (btleplug::platform::init) and rustls-platform-verifier needs the app Context for Android's
// certificate checks. The core exports it (authenticator-core/src/api/android.rs); a library
// built without it (UnsatisfiedLinkError) is logged, and the app then runs without BLE.
package com.passkeyphone.app

import android.content.Context
import android.util.Log

object NativeInit {
    private const val TAG = "PasskeyPhone"

    /** True once the core's JNI init ran; false while the core lacks it. */
    @Volatile
    var initialized = false
        private set

    fun initialize(context: Context) {
        initialized = try {
            System.loadLibrary("authenticator_core")
            init(context.applicationContext)
            true
        } catch (e: UnsatisfiedLinkError) {
            Log.w(TAG, "the core has no JNI init yet: BLE and platform TLS are not set up")
            false
        }
    }

    /** Rust: `Java_com_passkeyphone_app_NativeInit_init(env, class, context)`. */
    @JvmStatic
    private external fun init(context: Context)
}
