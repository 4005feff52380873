// The linked browsers list against the real core, with a browser that really links: the
// workspace's tunnel server on 127.0.0.1, the test browser (TestBrowser) reading the advert the
// app's LeAdvertiser was given, and the app's own flow (scan, "Remember this computer?", serve).
// A browser linked with the user's consent is listed under the name they gave it, with the
// link the browser holds, and the list is refreshed by the sign-in; removal happens only after
// confirmation, and then the core no longer knows the link; a stale removal is Not found.
// Without consent, or when the browser's code does not ask for it, nothing is linked.
package com.passkeyphone.coreui

import java.text.SimpleDateFormat
import java.util.TimeZone
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertArrayEquals
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.AuthenticatorException
import uniffi.authenticator_core.HybridOperation
import uniffi.authenticator_core.HybridServed
import uniffi.authenticator_core.LinkedBrowser

class LinkedBrowsersStateTest {
    private class MapStore : SettingsStore {
        override var linkServiceEnabled = false
        override var bleEnabled = false
    }

    /** The app over a real core whose tunnel server is [tunnel], with the adverts it sends. */
    private class App(f: Fixture, scope: CoroutineScope) {
        val adverts = LinkedBlockingQueue<ByteArray>()
        val radio = ScriptedRadio().also { radio -> radio.answer = { done -> adverts.put(radio.sent.last()); done(null) } }
        val screens = Screens(f.core, MapStore(), LeAdvertiser(radio), Dispatchers.IO)
        val flow = AppFlow(scope, MutableStateFlow(screens))
    }

    private fun fixture(tunnel: TunnelServerProcess) = Fixture(options = Fixture.OPTIONS.copy(hybridTunnelUrl = tunnel.url))

    /**
     * The user scans [browser]'s code and answers [linkAs] ("Remember it" with a name, or null);
     * the browser registers a passkey at example.com through the tunnel. Returns its session.
     */
    private suspend fun signIn(app: App, browser: TestBrowser, linkAs: String?, tunnel: TunnelServerProcess): TestBrowser.Session {
        assertNull(app.flow.scanned(browser.qrText))
        assertNull("nothing runs before the user answers", app.flow.serveHybrid())
        app.screens.hybrid.consent(linkAs)
        val job = app.flow.serveHybrid()!!
        val session = withContext(Dispatchers.IO) {
            val advert = app.adverts.poll(20, TimeUnit.SECONDS) ?: error("the phone did not advertise")
            browser.connect(advert, tunnel.url).also { session ->
                val response = session.request(Fixture.makeCredential("example.com", "alice"))
                assertEquals("CTAP status", 0, response[0].toInt())
                session.shutdown()
            }
        }
        withTimeout(20_000) { job.join() }
        assertEquals(HybridServed(HybridOperation.REGISTER, "example.com"), app.screens.hybrid.ui.value.served)
        return session
    }

    @Test
    fun aLinkedBrowserIsListedAndRemovedOnlyAfterConfirmation() = TunnelServerProcess().use { tunnel ->
        fixture(tunnel).use { f ->
            runBlocking {
                val app = App(f, this)
                val linked = app.screens.linkedBrowsers
                linked.load()
                assertEquals(LinkedBrowsersState.Ui(loaded = true), linked.ui.value)

                val before = System.currentTimeMillis() / 1000
                val session = signIn(app, TestBrowser(asksToLink = true), "  Office PC ", tunnel)
                val after = System.currentTimeMillis() / 1000

                // The browser holds a link signed over its handshake, naming the phone...
                val held = session.linking ?: error("the phone sent no linking information")
                assertEquals("Host test phone", held.name)
                // ...and the same link is listed, under the name the user gave, by the sign-in's refresh.
                val hybrid = app.screens.hybrid.ui.value
                assertEquals("Office PC", hybrid.linked?.name)
                assertEquals(
                    "This computer's browser is linked as Office PC: it is listed under Computers.",
                    HybridState.describeLink(hybrid),
                )
                val listed = linked.ui.value.browsers.single()
                assertArrayEquals(held.linkId, listed.id)
                assertEquals("Office PC", listed.name)
                assertTrue("${listed.linkedAt}", listed.linkedAt.toLong() in before..after)
                assertEquals("not used since", listed.linkedAt, listed.lastUsedAt)
                assertNull(linked.ui.value.error)

                // Remove asks first; Cancel keeps it.
                linked.askRemove(listed)
                assertEquals(listed, linked.ui.value.confirming)
                assertEquals("Remove Office PC?", LinkedBrowsersState.confirmTitle(listed))
                linked.cancelRemove()
                assertNull(linked.ui.value.confirming)
                linked.confirmRemove()
                assertEquals("nothing confirmed, nothing removed", 1, f.core.linkedBrowsers().size)

                linked.askRemove(listed)
                linked.confirmRemove()
                assertEquals(emptyList<LinkedBrowser>(), linked.ui.value.browsers)
                assertEquals("Office PC", linked.ui.value.removed)
                assertNull(linked.ui.value.confirming)
                assertNull(linked.ui.value.error)
                assertEquals(emptyList<LinkedBrowser>(), f.core.linkedBrowsers())
                // The core no longer serves that browser.
                val reconnect = runCatching { f.core.serveLinkedBrowser(listed.id, LeAdvertiser(ScriptedRadio())) }.exceptionOrNull()
                assertTrue("$reconnect", reconnect is AuthenticatorException.InvalidInput)

                // A row still on screen after it went: said in words, nothing else changes.
                linked.askRemove(listed)
                linked.confirmRemove()
                assertEquals(LinkedBrowsersState.NOT_LINKED, linked.ui.value.error)
                assertEquals(
                    UserMessage("Not found", "This browser is no longer linked to the phone.", canRetry = false),
                    linked.ui.value.error,
                )
                linked.dismissError()
                assertNull(linked.ui.value.error)
            }
        }
    }

    @Test
    fun notThisTimeLinksNothing() = TunnelServerProcess().use { tunnel ->
        fixture(tunnel).use { f ->
            runBlocking {
                val app = App(f, this)
                val session = signIn(app, TestBrowser(asksToLink = true), null, tunnel)
                assertNull("the browser got no link", session.linking)
                assertNull(app.screens.hybrid.ui.value.linked)
                assertNull("linking was not asked: no line about it", HybridState.describeLink(app.screens.hybrid.ui.value))
                assertEquals(emptyList<LinkedBrowser>(), f.core.linkedBrowsers())
                assertEquals("not refreshed", LinkedBrowsersState.Ui(), app.screens.linkedBrowsers.ui.value)
            }
        }
    }

    @Test
    fun aBrowserThatDoesNotAskIsNotLinkedAndTheScreenSaysSo() = TunnelServerProcess().use { tunnel ->
        fixture(tunnel).use { f ->
            runBlocking {
                val app = App(f, this)
                val session = signIn(app, TestBrowser(asksToLink = false), "Office PC", tunnel)
                assertNull(session.linking)
                assertEquals(
                    "The browser did not offer to be remembered: nothing was linked.",
                    HybridState.describeLink(app.screens.hybrid.ui.value),
                )
                assertEquals(emptyList<LinkedBrowser>(), f.core.linkedBrowsers())
                assertNull("the consent was used up", app.screens.hybrid.ui.value.consent)
            }
        }
    }

    @Test
    fun whenLinkedAndLastUsed() {
        val utc = SimpleDateFormat("yyyy-MM-dd HH:mm").apply { timeZone = TimeZone.getTimeZone("UTC") }
        val fresh = LinkedBrowser(byteArrayOf(1, 2, 0x0A, -1), "Office PC", 1_800_000_000u, 1_800_000_000u)
        assertEquals("Linked 2027-01-15 08:00", LinkedBrowsersState.whenUsed(fresh, utc))
        val used = LinkedBrowser(fresh.id, "Office PC", 1_800_000_000u, 1_800_090_000u)
        assertEquals("Linked 2027-01-15 08:00 · last used 2027-01-16 09:00", LinkedBrowsersState.whenUsed(used, utc))
        assertEquals("01020aff", LinkedBrowsersState.key(fresh))
        assertEquals("Removed Office PC.", LinkedBrowsersState.removed("Office PC"))
    }
}
