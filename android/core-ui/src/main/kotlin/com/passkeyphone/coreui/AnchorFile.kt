// The vault's monotonic anchor (the core's sealed state generation) in one file, as the app's
// KeyProtector keeps it (Android: in noBackupFilesDir, never in a backup or a device transfer,
// so a vault file restored from a backup or copied back is older than the anchor and the core
// refuses it). Plain java.io: host-tested with the real core.
//
// Invariants: a store replaces the file atomically (a new file flushed to disk, then renamed
// over the old one), so a crash leaves the old anchor or the new one, never a torn one; a
// failure is the core's KeyProtectorException.Failed naming the step and the exception's
// class, never the anchor's bytes. Someone who can write the app's private files (root) can
// put back an old anchor with an old vault: this does not stop them.
package com.passkeyphone.coreui

import java.io.File
import java.io.FileOutputStream
import java.io.IOException
import uniffi.authenticator_core.KeyProtectorException

class AnchorFile(private val file: File) {
    private val lock = Any()

    /** The stored anchor, or null before the first store. */
    fun load(): ByteArray? = io("read") {
        synchronized(lock) { if (file.exists()) file.readBytes() else null }
    }

    /** True once [anchor] is on disk. */
    fun store(anchor: ByteArray): Boolean = io("write") {
        synchronized(lock) {
            val tmp = File(file.parentFile, "${file.name}.${System.nanoTime()}.tmp")
            try {
                FileOutputStream(tmp).use { out ->
                    out.write(anchor)
                    out.fd.sync()
                }
                if (!tmp.renameTo(file)) throw IOException("rename failed")
            } finally {
                tmp.delete()
            }
        }
        true
    }

    private inline fun <T> io(doing: String, block: () -> T): T = try {
        block()
    } catch (e: IOException) {
        throw KeyProtectorException.Failed("cannot $doing the vault's state anchor: ${e.javaClass.simpleName}")
    }

    companion object {
        /** The file's name in the app's no-backup folder. */
        const val NAME = "vault-state-anchor"
    }
}
