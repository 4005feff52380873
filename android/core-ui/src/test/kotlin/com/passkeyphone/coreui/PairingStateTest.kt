// The paired computers screen's state against the real core: none at first, a malformed QR text
// is InvalidInput (nothing paired), removing an unknown computer is NotFound.
package com.passkeyphone.coreui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.AuthenticatorException

class PairingStateTest {
    @Test
    fun noComputersAtFirst() = Fixture().use { f ->
        runBlocking {
            val pairing = PairingState(f.core, Fixture.direct)
            pairing.load()
            assertEquals(emptyList<Any>(), pairing.ui.value.computers)
            assertNull(pairing.ui.value.error)
        }
    }

    @Test
    fun aMalformedQrTextIsInvalidInput() = Fixture().use { f ->
        runBlocking {
            val pairing = PairingState(f.core, Fixture.direct)
            for (text in listOf("hello", "PASSKEYPHONE:/12345", "https://example.com/pair")) {
                pairing.pair(text)
                assertEquals(text, "Check what you entered", pairing.ui.value.error?.title)
                assertNull(pairing.ui.value.justPaired)
            }
            val thrown = runCatching { f.core.pair("hello") }.exceptionOrNull()
            assertTrue("$thrown", thrown is AuthenticatorException.InvalidInput)
            assertEquals(emptyList<Any>(), f.core.pairedComputers())
        }
    }

    @Test
    fun removingAnUnknownComputerIsNotFound() = Fixture().use { f ->
        runBlocking {
            val pairing = PairingState(f.core, Fixture.direct)
            pairing.remove("00112233445566778899aabbccddeeff")
            assertEquals("Not found", pairing.ui.value.error?.title)
        }
    }
}
