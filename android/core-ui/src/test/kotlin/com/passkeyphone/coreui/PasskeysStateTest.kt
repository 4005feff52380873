// The passkeys screen's state against the real core: empty at first, a passkey made through
// handle_ctap (a hand-built makeCredential) appears, is renamed, and is deleted.
package com.passkeyphone.coreui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.UserEvent
import uniffi.authenticator_core.VerificationOutcome

class PasskeysStateTest {
    @Test
    fun listRenameDelete() = Fixture().use { f ->
        runBlocking {
            val passkeys = PasskeysState(f.core, Fixture.direct)
            passkeys.load()
            assertTrue(passkeys.ui.value.loaded)
            assertEquals(emptyList<Any>(), passkeys.ui.value.passkeys)

            val response = f.core.handleCtap(Fixture.makeCredential("crm.example", "alice@acme.example"))
            assertEquals("CTAP status", 0, response[0].toInt())
            val credentialId = Fixture.credentialId(response)
            assertEquals(listOf("verify REGISTER crm.example"), f.ui.asked.toList())
            assertTrue(f.ui.events.any { it is UserEvent.PasskeyCreated && it.rpId == "crm.example" })

            passkeys.load()
            val made = passkeys.ui.value.passkeys.single()
            assertEquals(credentialId, made.id)
            assertEquals("crm.example", made.rpId)
            assertEquals("alice@acme.example", made.userName)
            assertTrue(made.discoverable)
            assertNull(made.name)
            assertEquals("Display alice@acme.example", PasskeysState.label(made))

            passkeys.rename(made.id, "  Work CRM  ")
            assertNull(passkeys.ui.value.error)
            val renamed = passkeys.ui.value.passkeys.single()
            assertEquals("Work CRM", renamed.name)
            assertEquals("Work CRM", PasskeysState.label(renamed))
            assertEquals("alice@acme.example · crm.example", PasskeysState.subtitle(renamed))

            passkeys.delete(made.id)
            assertNull(passkeys.ui.value.error)
            assertEquals(emptyList<Any>(), passkeys.ui.value.passkeys)
            assertEquals(emptyList<Any>(), f.core.passkeys())
        }
    }

    @Test
    fun deletingAnUnknownPasskeyIsNotFound() = Fixture().use { f ->
        runBlocking {
            val passkeys = PasskeysState(f.core, Fixture.direct)
            passkeys.delete("AAAAAAAAAAAAAAAAAAAAAA")
            assertEquals("Not found", passkeys.ui.value.error!!.title)
        }
    }

    @Test
    fun aFailedVerificationMakesNoPasskey() = Fixture(ui = ScriptedUserInterface(verification = VerificationOutcome.FAILED)).use { f ->
        val response = runBlocking { f.core.handleCtap(Fixture.makeCredential("crm.example", "bob")) }
        assertEquals("CTAP2_ERR_UV_INVALID", 0x3F, response[0].toInt())
        assertEquals(emptyList<Any>(), f.core.passkeys())
    }
}
