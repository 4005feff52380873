// The core's log lines (its tracing events) to logcat, under one tag. The core keeps secrets
// (PINs, codes, keys) out of its log lines; nothing is added here.
package com.passkeyphone.app.platform

import android.util.Log
import uniffi.authenticator_core.LogLevel
import uniffi.authenticator_core.CoreLogger

class LogcatLogger : CoreLogger {
    override fun log(level: LogLevel, target: String, message: String) {
        val priority = when (level) {
            LogLevel.ERROR -> Log.ERROR
            LogLevel.WARN -> Log.WARN
            LogLevel.INFO -> Log.INFO
            LogLevel.DEBUG -> Log.DEBUG
            LogLevel.TRACE -> Log.VERBOSE
        }
        if (Log.isLoggable(TAG, priority)) Log.println(priority, TAG, "$target: $message")
    }

    private companion object {
        const val TAG = "PasskeyPhoneCore"
    }
}
