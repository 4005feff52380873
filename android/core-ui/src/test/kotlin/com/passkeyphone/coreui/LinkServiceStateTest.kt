// The link service's state machine against the real core: a start runs the core's service and
// says how the computers can reach the phone; a second start, or Bluetooth from a library
// built without it, is refused in the core's words and changes nothing; each event of the
// service is one line of the ongoing notification; stop ends the core's service, and a late
// event after it (or after a refused start) posts nothing.
package com.passkeyphone.coreui

import java.util.Collections
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.LinkServiceEvent

class LinkServiceStateTest {
    private val shown: MutableList<Notice> = Collections.synchronizedList(mutableListOf())

    @Test
    fun aStartRunsTheCoresServiceAndStopEndsIt() = Fixture().use { f ->
        val link = LinkServiceState(f.core) { shown += it }
        assertEquals(LinkServiceState.Phase.Stopped, link.ui.value.phase)
        assertTrue(link.start(useBle = false))
        assertTrue(f.core.linkServiceRunning())
        assertEquals(LinkServiceState.Phase.Waiting, link.ui.value.phase)
        assertEquals(
            listOf(Notice("Ready for your computers", "Waiting for your computers (relay)")),
            shown,
        )
        link.stop()
        assertFalse(f.core.linkServiceRunning())
        assertEquals(LinkServiceState.Ui(), link.ui.value)
        assertEquals("the notification goes with the service: nothing posted", 1, shown.size)
        link.onLinkEvent(LinkServiceEvent.Connected("Office PC", "relay"))
        assertEquals("a late event changes nothing", LinkServiceState.Ui(), link.ui.value)
        assertEquals(1, shown.size)
    }

    @Test
    fun aSecondStartIsRefusedAndTheFirstRunsOn() = Fixture().use { f ->
        val first = LinkServiceState(f.core) { shown += it }
        assertTrue(first.start(useBle = false))
        val second = LinkServiceState(f.core) { shown += it }
        assertFalse(second.start(useBle = false))
        assertEquals(LinkServiceState.Phase.Failed, second.ui.value.phase)
        assertEquals("The link service is already running.", second.ui.value.text)
        assertEquals(Notice("Ready for your computers", "The link service is already running."), shown.last())
        assertTrue(f.core.linkServiceRunning())
        first.stop()
    }

    @Test
    fun bluetoothFromALibraryWithoutItIsRefusedInWords() = Fixture().use { f ->
        // The host library is built without the `ble` feature, like an app built without it.
        val link = LinkServiceState(f.core) { shown += it }
        assertFalse(link.start(useBle = true))
        assertEquals(
            "This build of the app has no Bluetooth support; start the link service without Bluetooth.",
            link.ui.value.text,
        )
        assertEquals(LinkServiceState.Phase.Failed, link.ui.value.phase)
        assertFalse(f.core.linkServiceRunning())
        link.onLinkEvent(LinkServiceEvent.BluetoothUnavailable("no adapter"))
        assertEquals(LinkServiceState.Phase.Failed, link.ui.value.phase)
        assertEquals(1, shown.size)
    }

    @Test
    fun eachEventIsOneLine() = Fixture().use { f ->
        val link = LinkServiceState(f.core) { shown += it }
        assertTrue(link.start(useBle = false))
        val steps = listOf(
            LinkServiceEvent.Connected("Office PC", "relay") to
                (LinkServiceState.Phase.Connected to "Connected to Office PC (relay)"),
            LinkServiceEvent.Served("Office PC", 0x02u, 0x00u) to
                (LinkServiceState.Phase.Connected to "Answered Office PC"),
            LinkServiceEvent.Ended("Office PC", "closed by the computer") to
                (LinkServiceState.Phase.Waiting to "Waiting for your computers"),
            LinkServiceEvent.Refused("unknown pairing") to
                (LinkServiceState.Phase.Waiting to "Refused a connection: Unknown pairing."),
            LinkServiceEvent.RelayTrouble("wss://relay.example", "connection refused") to
                (LinkServiceState.Phase.Waiting to "Relay unreachable, retrying: Connection refused."),
            LinkServiceEvent.BluetoothUnavailable("no adapter") to
                (LinkServiceState.Phase.Waiting to "Bluetooth off, using the relay: No adapter."),
        )
        for ((event, expected) in steps) {
            link.onLinkEvent(event)
            assertEquals("$event", expected, link.ui.value.phase to link.ui.value.text)
            assertEquals(Notice("Ready for your computers", expected.second), shown.last())
        }
        link.stop()
    }
}
