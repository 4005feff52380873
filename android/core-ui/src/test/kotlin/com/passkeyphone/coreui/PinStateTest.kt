// The client PIN screen's state against the real core: first PIN, change with a wrong current
// PIN (exact message and attempts left), change with the right one, and local checks.
package com.passkeyphone.coreui

import kotlinx.coroutines.runBlocking
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.AuthenticatorException

class PinStateTest {
    @Test
    fun setThenChangeWithAWrongThenTheRightCurrentPin() = Fixture().use { f ->
        runBlocking {
            val pin = PinState(f.core, Fixture.direct)
            pin.load()
            val fresh = pin.ui.value.status!!
            assertFalse(fresh.isSet)
            assertEquals(8.toUByte(), fresh.retriesLeft)

            pin.setPin("135790", "135790")
            assertNull(pin.ui.value.error)
            assertTrue(pin.ui.value.saved)
            assertTrue(pin.ui.value.status!!.isSet)

            pin.changePin("000000", "24681357", "24681357")
            assertEquals(
                UserMessage("Wrong PIN", "Wrong PIN; 7 attempt(s) left.", canRetry = true),
                pin.ui.value.error,
            )
            assertFalse(pin.ui.value.saved)
            assertEquals("the counter is read again", 7.toUByte(), pin.ui.value.status!!.retriesLeft)

            pin.changePin("135790", "24681357", "24681357")
            assertNull(pin.ui.value.error)
            assertTrue(pin.ui.value.saved)
            assertEquals("the right PIN resets the counter", 8.toUByte(), pin.ui.value.status!!.retriesLeft)
        }
    }

    @Test
    fun theCoreReportsTheAttemptsLeftInItsError() = Fixture().use { f ->
        f.core.setPin("135790")
        val wrong = try {
            f.core.changePin("999999", "24681357")
            error("a wrong current PIN must be refused")
        } catch (e: AuthenticatorException.PinInvalid) {
            e
        }
        assertEquals(7u, wrong.attemptsLeft)
        assertEquals("wrong PIN; 7 attempt(s) left", wrong.reason)
    }

    @Test
    fun aSecondPinCannotBeSetOverTheFirst() = Fixture().use { f ->
        runBlocking {
            val pin = PinState(f.core, Fixture.direct)
            pin.setPin("135790", "135790")
            pin.setPin("246802", "246802")
            assertEquals("Not possible now", pin.ui.value.error!!.title)
            assertFalse(pin.ui.value.saved)
        }
    }

    @Test
    fun aTooShortPinIsInvalidInput() = Fixture().use { f ->
        runBlocking {
            val pin = PinState(f.core, Fixture.direct)
            pin.setPin("12", "12")
            assertEquals("Check what you entered", pin.ui.value.error!!.title)
            pin.load()
            assertFalse(pin.ui.value.status!!.isSet)
        }
    }

    @Test
    fun differentConfirmationNeverReachesTheCore() = Fixture().use { f ->
        runBlocking {
            val pin = PinState(f.core, Fixture.direct)
            pin.setPin("135790", "135791")
            assertEquals(PinState.PINS_DIFFER, pin.ui.value.error)
            assertFalse(f.core.pinStatus().isSet)
            pin.dismissError()
            assertNull(pin.ui.value.error)
        }
    }
}
