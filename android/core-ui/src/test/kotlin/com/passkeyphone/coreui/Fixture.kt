// Shared setup of the host tests: a real Authenticator on a temporary data directory, with the
// test key protector and scripted prompts, and hand-built CTAP requests.
package com.passkeyphone.coreui

import java.io.File
import java.nio.file.Files
import java.security.MessageDigest
import java.util.Base64
import kotlinx.coroutines.Dispatchers
import uniffi.authenticator_core.Authenticator
import uniffi.authenticator_core.AuthenticatorOptions
import uniffi.authenticator_core.UserInterface

/** The real core, opened on a fresh temporary folder; close() removes the folder. */
class Fixture(
    val protector: TestProtector = TestProtector(),
    val ui: ScriptedUserInterface = ScriptedUserInterface(),
    private val options: AuthenticatorOptions = OPTIONS,
) : AutoCloseable {
    val dir: File = Files.createTempDirectory("passkeyphone-test").toFile()
    val core: Authenticator = open()

    /** Opens (again) on the same folder, as the app does after a restart. */
    fun open(
        protector: TestProtector = this.protector,
        userInterface: UserInterface = ui,
        options: AuthenticatorOptions = this.options,
    ): Authenticator = Authenticator.open(dir.path, protector, userInterface, null, options)

    override fun close() {
        core.close()
        dir.deleteRecursively()
    }

    companion object {
        val OPTIONS = AuthenticatorOptions(
            deviceName = "Host test phone",
            allowInsecureLoopback = true,
            userActionTimeoutMs = 5_000u,
            chooseAccountOnPhone = false,
        )

        /** Tests run the core's calls on the caller's thread for a deterministic order. */
        val direct = Dispatchers.Unconfined

        const val MAKE_CREDENTIAL: Byte = 0x01

        /**
         * authenticatorMakeCredential for an ES256 passkey: by default discoverable and verified
         * by the phone (verify_user); with [verify] false, only the user's presence is asked.
         */
        fun makeCredential(rpId: String, userName: String, verify: Boolean = true): ByteArray {
            val params = mapOf(
                1 to sha256("client data for $rpId".toByteArray()),
                2 to mapOf("id" to rpId, "name" to "Example RP"),
                3 to mapOf("id" to userName.toByteArray(), "name" to userName, "displayName" to "Display $userName"),
                4 to listOf(mapOf("alg" to -7, "type" to "public-key")),
                7 to if (verify) mapOf("rk" to true, "uv" to true) else mapOf("rk" to false),
            )
            return byteArrayOf(MAKE_CREDENTIAL) + Cbor.encode(params)
        }

        const val GET_ASSERTION: Byte = 0x02

        /** authenticatorGetAssertion of a discoverable passkey at [rpId], verified by the phone. */
        fun getAssertion(rpId: String): ByteArray = byteArrayOf(GET_ASSERTION) + Cbor.encode(
            mapOf(1 to rpId, 2 to sha256("client data for a sign-in at $rpId".toByteArray()), 5 to mapOf("uv" to true)),
        )

        /** The credential id inside a successful makeCredential response, base64url. */
        fun credentialId(response: ByteArray): String {
            require(response[0] == 0.toByte()) { "CTAP status ${response[0]}" }
            val body = CborReader(response, 1).read() as Map<*, *>
            val authData = body[2L] as ByteArray
            // rpIdHash(32) flags(1) signCount(4) aaguid(16) length(2) credentialId
            val length = ((authData[53].toInt() and 0xFF) shl 8) or (authData[54].toInt() and 0xFF)
            val id = authData.copyOfRange(55, 55 + length)
            return Base64.getUrlEncoder().withoutPadding().encodeToString(id)
        }

        fun sha256(data: ByteArray): ByteArray = MessageDigest.getInstance("SHA-256").digest(data)
    }
}
