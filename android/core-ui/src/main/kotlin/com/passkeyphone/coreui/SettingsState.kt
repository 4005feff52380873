// State of the settings screen: what protects the vault key, whether the link service (and BLE
// within it) should run, and the audit log of on-behalf registrations.
package com.passkeyphone.coreui

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.update
import uniffi.authenticator_core.AuditRecord
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.KeyProtectionInfo

/** Where the app keeps its own switches (SharedPreferences on Android, a map in tests). */
interface SettingsStore {
    var linkServiceEnabled: Boolean
    var bleEnabled: Boolean
}

class SettingsState(
    private val core: Authenticator,
    private val store: SettingsStore,
    dispatcher: CoroutineDispatcher = Dispatchers.IO,
) : StateHolder<SettingsState.Ui>(Ui(), dispatcher) {
    data class Ui(
        val keyProtection: KeyProtectionInfo? = null,
        val linkServiceEnabled: Boolean = false,
        val linkServiceRunning: Boolean = false,
        val bleEnabled: Boolean = false,
        /** Newest first. */
        val auditLog: List<AuditRecord> = emptyList(),
        val busy: Boolean = false,
        val error: UserMessage? = null,
    )

    override fun Ui.withStatus(busy: Boolean, error: UserMessage?) = copy(busy = busy, error = error)

    suspend fun load() {
        val read = call { core.keyProtection() to core.auditLog() }.valueOrNull()
        state.update {
            it.copy(
                keyProtection = read?.first ?: it.keyProtection,
                linkServiceEnabled = store.linkServiceEnabled,
                linkServiceRunning = core.linkServiceRunning(),
                bleEnabled = store.bleEnabled,
                auditLog = read?.second?.sortedByDescending { r -> r.seq } ?: it.auditLog,
            )
        }
    }

    /** Only records the wish; the app starts or stops its foreground service from it. */
    fun setLinkServiceEnabled(enabled: Boolean) {
        store.linkServiceEnabled = enabled
        state.update { it.copy(linkServiceEnabled = enabled) }
    }

    fun setBleEnabled(enabled: Boolean) {
        store.bleEnabled = enabled
        state.update { it.copy(bleEnabled = enabled) }
    }

    /** Re-reads whether the service runs (after the app started or stopped it). */
    fun refreshRunning() = state.update { it.copy(linkServiceRunning = core.linkServiceRunning()) }

    companion object {
        /** The link service's line. */
        fun describeLink(running: Boolean): String = if (running) "Running" else "Stopped"

        /** The Bluetooth line: a library without the JNI init (no BLE set up) says so. */
        fun describeBluetooth(available: Boolean): String =
            if (available) "Reach computers nearby without the internet" else "Not available in this build"

        /** One line of the audit log: its kind, then its facts in a stable order. */
        fun describe(record: AuditRecord): String =
            record.kind + record.details.toSortedMap().entries.joinToString("") { (k, v) -> " · $k: $v" }

        /** "StrongBox security chip" and the like, for the key protection line. */
        fun describe(info: KeyProtectionInfo): String {
            val mechanism = when (info.kind) {
                WrappedKey.KIND_STRONGBOX -> "Android Keystore, StrongBox security chip"
                WrappedKey.KIND_TEE -> "Android Keystore, trusted execution environment"
                WrappedKey.KIND_SOFTWARE -> "Android Keystore, software only"
                else -> info.kind
            }
            val hardware = if (info.hardwareBacked) "key kept in secure hardware" else "key not in secure hardware"
            return "$mechanism ($hardware)"
        }
    }
}
