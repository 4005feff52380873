// The app's advertiser as a hybrid session's screen sees it: does what the real advertiser does
// and then reports that the advert started (the browser can now find the phone) or stopped
// (the browser joined, or the session ended), so a state holder can show the step.
//
// Invariant: the report follows the real call and only when it returned; a start that throws
// reports nothing (the core ends the session with its Bluetooth error).
package com.passkeyphone.coreui

import uniffi.authenticator_core.HybridAdvertiser

class ReportingAdvertiser(
    private val advertiser: HybridAdvertiser,
    private val onStarted: () -> Unit,
    private val onStopped: () -> Unit,
) : HybridAdvertiser {
    override fun startAdvertising(serviceUuid16: UShort, serviceData: ByteArray) {
        advertiser.startAdvertising(serviceUuid16, serviceData)
        onStarted()
    }

    override fun stopAdvertising() {
        advertiser.stopAdvertising()
        onStopped()
    }
}
