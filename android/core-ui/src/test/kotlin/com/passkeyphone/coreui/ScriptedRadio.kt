// A scripted AdvertRadio for host tests: records every call and the bytes it was given, and
// answers a start as the test says (at once, later, never, with a failure code, or throwing).
package com.passkeyphone.coreui

import java.util.Collections

/** Records calls; answers a start as [answer] says (null: never answers). */
class ScriptedRadio(
    var availability: RadioAvailability = RadioAvailability.Ready,
    var answer: ((done: (Int?) -> Unit) -> Unit)? = { it(null) },
    var throwOnStart: RuntimeException? = null,
    var throwOnStop: RuntimeException? = null,
) : AdvertRadio {
    // The core calls from its own threads while the test reads.
    val calls: MutableList<String> = Collections.synchronizedList(mutableListOf())
    val sent: MutableList<ByteArray> = Collections.synchronizedList(mutableListOf())
    @Volatile var lastDone: ((Int?) -> Unit)? = null

    override fun availability() = availability

    override fun start(serviceUuid: String, serviceData: ByteArray, done: (Int?) -> Unit) {
        calls += "start $serviceUuid"
        sent += serviceData
        lastDone = done
        throwOnStart?.let { throw it }
        answer?.invoke(done)
    }

    override fun stop() {
        calls += "stop"
        throwOnStop?.let { throw it }
    }
}
