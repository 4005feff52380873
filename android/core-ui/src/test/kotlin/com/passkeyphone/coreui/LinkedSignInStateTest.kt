// "Sign in from this computer" against the real core and the real tunnel server: a browser
// first links through the app's QR flow (TestBrowser), then comes back without a QR code
// (LinkedTestBrowser: the contact route, the advert under the link secret, NKpsk0) while the
// row's state waits for it. A sign-in succeeds and the row's "last used" moves, also when the
// user declines (said as Declined); a wrong link secret ends with the core's handshake error; Cancel while waiting ends with the Cancelled
// text and frees the core; a removed link is Not found and nothing waits at its contact; a QR
// session and a linked one exclude each other with the core's InvalidState text, each way.
package com.passkeyphone.coreui

import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test
import uniffi.authenticator_core.HybridOperation
import uniffi.authenticator_core.HybridServed
import uniffi.authenticator_core.LinkedBrowser
import uniffi.authenticator_core.VerificationOutcome

class LinkedSignInStateTest {
    private class MapStore : SettingsStore {
        override var linkServiceEnabled = false
        override var bleEnabled = false
    }

    /** The app over a real core whose tunnel server is [tunnel], with the adverts it sends. */
    private class App(val f: Fixture, scope: CoroutineScope, val tunnel: TunnelServerProcess) {
        val adverts = LinkedBlockingQueue<ByteArray>()
        val radio = ScriptedRadio().also { radio -> radio.answer = { done -> adverts.put(radio.sent.last()); done(null) } }
        val screens = Screens(f.core, MapStore(), LeAdvertiser(radio), Dispatchers.IO)
        val flow = AppFlow(scope, MutableStateFlow(screens))
        val signIn get() = screens.linkedSignIn
    }

    private fun run(test: suspend CoroutineScope.(App) -> Unit) = TunnelServerProcess().use { tunnel ->
        Fixture(options = Fixture.OPTIONS.copy(hybridTunnelUrl = tunnel.url)).use { f ->
            runBlocking { test(App(f, this, tunnel)) }
        }
    }

    /**
     * Registers a passkey at example.com from a browser that asks to be linked, with the
     * user's "Remember it" as Office PC; returns what the browser holds and the listed row.
     */
    private suspend fun link(app: App): Pair<TestBrowser.LinkingInfo, LinkedBrowser> {
        val browser = TestBrowser(asksToLink = true)
        assertNull(app.flow.scanned(browser.qrText))
        app.screens.hybrid.consent("Office PC")
        val job = app.flow.serveHybrid()!!
        val held = withContext(Dispatchers.IO) {
            val advert = app.adverts.poll(20, TimeUnit.SECONDS) ?: error("the phone did not advertise")
            val session = browser.connect(advert, app.tunnel.url)
            assertEquals("CTAP status", 0, session.request(Fixture.makeCredential("example.com", "alice"))[0].toInt())
            session.shutdown()
            session.linking ?: error("the phone sent no linking information")
        }
        withTimeout(20_000) { job.join() }
        app.screens.hybrid.reset()
        return held to app.screens.linkedBrowsers.ui.value.browsers.single()
    }

    private suspend fun App.waitFor(step: LinkedSignInState.Step) =
        withTimeout(20_000) { signIn.ui.first { it.step == step } }

    @Test
    fun aLinkedBrowserSignsInFromItsRowAndItsLastUseIsShown() = run { app ->
        val (held, row) = link(app)
        // The row's "last used" moves only if the reconnect is in a later second than the link.
        while (System.currentTimeMillis() / 1000 <= row.linkedAt.toLong()) Thread.sleep(20)
        val before = System.currentTimeMillis() / 1000
        val asked = app.f.ui.asked.size

        val job = app.flow.act { linkedSignIn.signIn(row) }!!
        app.waitFor(LinkedSignInState.Step.Waiting)
        assertEquals(
            "Waiting for Office PC (up to a minute): in its browser, start signing in and choose this phone.",
            LinkedSignInState.describe(app.signIn.ui.value.step, row.name),
        )
        withContext(Dispatchers.IO) {
            val browser = LinkedTestBrowser(held)
            val session = browser.connect(browser.dial(app.tunnel.url), app.adverts)
            assertEquals("the advert stopped once the browser joined", LinkedSignInState.Step.Connected, app.signIn.ui.value.step)
            assertEquals(
                "Connected to the browser. Answer on the phone when asked.",
                LinkedSignInState.describe(app.signIn.ui.value.step, row.name),
            )
            assertTrue("the phone's getInfo came first", session.postHandshake[1L] is ByteArray)
            val response = session.request(Fixture.getAssertion("example.com"))
            assertEquals("CTAP status", 0, response[0].toInt())
            session.shutdown()
        }
        withTimeout(20_000) { job.join() }
        val after = System.currentTimeMillis() / 1000

        val ui = app.signIn.ui.value
        assertEquals(LinkedSignInState.Step.Finished, ui.step)
        assertNull(ui.error)
        assertEquals(HybridServed(HybridOperation.SIGN_IN, "example.com"), ui.served)
        assertEquals("Signed in at example.com.", HybridState.describe(ui.served!!))
        val prompts = app.f.ui.asked.drop(asked)
        assertTrue("the user was asked: $prompts", prompts.isNotEmpty() && prompts.all { it.endsWith(" example.com") })
        // The list was read again: its row shows this reconnect.
        val listed = app.screens.linkedBrowsers.ui.value.browsers.single()
        assertTrue("${listed.lastUsedAt} in $before..$after", listed.lastUsedAt.toLong() in before..after)
        assertEquals(row.linkedAt, listed.linkedAt)
        assertTrue(LinkedBrowsersState.whenUsed(listed), LinkedBrowsersState.whenUsed(listed).contains(" · last used "))

        app.signIn.reset()
        assertEquals(LinkedSignInState.Ui(), app.signIn.ui.value)
    }

    @Test
    fun aDeclinedSignInIsSaidAndTheReconnectStillCountsAsAUse() = run { app ->
        val (held, row) = link(app)
        while (System.currentTimeMillis() / 1000 <= row.linkedAt.toLong()) Thread.sleep(20)
        app.f.ui.allowPresence = false
        app.f.ui.verification = VerificationOutcome.DECLINED
        val job = app.flow.act { linkedSignIn.signIn(row) }!!
        app.waitFor(LinkedSignInState.Step.Waiting)
        val answer = withContext(Dispatchers.IO) {
            val browser = LinkedTestBrowser(held)
            val session = browser.connect(browser.dial(app.tunnel.url), app.adverts)
            runCatching { session.request(Fixture.getAssertion("example.com"))[0].toInt() }
        }
        withTimeout(20_000) { job.join() }
        assertTrue("the browser got no assertion: $answer", answer.getOrNull() != 0)
        val ui = app.signIn.ui.value
        assertNull(ui.served)
        assertEquals(UserMessage("Declined", "The user declined.", canRetry = false), ui.error)
        // The browser proved it holds the link before the user said no: "last used" moves.
        val listed = app.screens.linkedBrowsers.ui.value.browsers.single()
        assertTrue("${listed.lastUsedAt} > ${listed.linkedAt}", listed.lastUsedAt > listed.linkedAt)
    }

    @Test
    fun aBrowserWithAWrongLinkSecretFailsTheHandshake() = run { app ->
        val (held, row) = link(app)
        val asked = app.f.ui.asked.toList()
        val job = app.flow.act { linkedSignIn.signIn(row) }!!
        app.waitFor(LinkedSignInState.Step.Waiting)
        val browserSaw = withContext(Dispatchers.IO) {
            val browser = LinkedTestBrowser(held, wrongSecret = true)
            runCatching { browser.connect(browser.dial(app.tunnel.url), app.adverts) }.exceptionOrNull()
        }
        withTimeout(20_000) { job.join() }
        assertTrue("the browser got no session: $browserSaw", browserSaw is IllegalStateException)
        val ui = app.signIn.ui.value
        assertEquals(LinkedSignInState.Step.Finished, ui.step)
        assertNull(ui.served)
        assertEquals(
            UserMessage(
                "Could not connect securely",
                "The linked browser's handshake failed (it does not hold this link's secret?): handshake message " +
                    "failed authentication (wrong QR secret, wrong identity key, or altered message).",
                canRetry = true,
            ),
            ui.error,
        )
        assertEquals("no prompt for a browser that failed", asked, app.f.ui.asked.toList())
        assertEquals("not a use", row.linkedAt, app.screens.linkedBrowsers.ui.value.browsers.single().lastUsedAt)
    }

    @Test
    fun cancelWhileWaitingEndsCancelledAndFreesThePhone() = run { app ->
        val (held, row) = link(app)
        val job = app.flow.act { linkedSignIn.signIn(row) }!!
        app.waitFor(LinkedSignInState.Step.Waiting)
        app.signIn.cancel()
        withTimeout(20_000) { job.join() }
        val ui = app.signIn.ui.value
        assertEquals(LinkedSignInState.Step.Finished, ui.step)
        assertNull(ui.served)
        assertEquals(UserMessage("Cancelled", "The session was cancelled.", canRetry = true), ui.error)
        assertTrue("nothing advertised", app.adverts.isEmpty())

        // The core holds no session any more: the browser can be waited for again.
        val again = app.flow.act { linkedSignIn.signIn(row) }!!
        app.waitFor(LinkedSignInState.Step.Waiting)
        withContext(Dispatchers.IO) {
            val browser = LinkedTestBrowser(held)
            val session = browser.connect(browser.dial(app.tunnel.url), app.adverts)
            assertEquals(0, session.request(Fixture.getAssertion("example.com"))[0].toInt())
            session.shutdown()
        }
        withTimeout(20_000) { again.join() }
        assertEquals(HybridServed(HybridOperation.SIGN_IN, "example.com"), app.signIn.ui.value.served)
        assertNull(app.signIn.ui.value.error)
    }

    @Test
    fun cancelBeforeTheCoreTookTheSessionIsNotLost() = run { app ->
        val (_, row) = link(app)
        // The state's core calls queue behind a gate: Cancel comes before the core holds anything.
        val gate = CountDownLatch(1)
        val executor = Executors.newSingleThreadExecutor()
        try {
            executor.execute { gate.await() }
            val state = LinkedSignInState(app.f.core, LeAdvertiser(app.radio), app.screens.linkedBrowsers, executor.asCoroutineDispatcher())
            val job = launch { state.signIn(row) }
            withTimeout(20_000) { state.ui.first { it.step == LinkedSignInState.Step.Waiting } }
            state.cancel()
            gate.countDown()
            // Well before the core's minute of waiting would end.
            withTimeout(20_000) { job.join() }
            assertEquals(UserMessage("Cancelled", "The session was cancelled.", canRetry = true), state.ui.value.error)
            assertEquals(LinkedSignInState.Step.Finished, state.ui.value.step)
        } finally {
            executor.shutdownNow()
        }
    }

    @Test
    fun aRemovedLinkCannotBeServed() = run { app ->
        val (held, row) = link(app)
        // Removed (say, on another screen) while its row is still shown here.
        assertTrue(app.f.core.unlinkBrowser(row.id))
        app.flow.act { linkedSignIn.signIn(row) }!!.join()
        val ui = app.signIn.ui.value
        assertEquals(LinkedSignInState.Step.Finished, ui.step)
        assertEquals(UserMessage("Not found", "This browser is no longer linked to the phone.", canRetry = false), ui.error)
        assertEquals("the list was read again", emptyList<LinkedBrowser>(), app.screens.linkedBrowsers.ui.value.browsers)
        // Nothing waits at its contact: the browser is refused by the tunnel server.
        val dialled = withContext(Dispatchers.IO) { runCatching { LinkedTestBrowser(held).dial(app.tunnel.url, attempts = 3) } }
        assertEquals("the tunnel server answered 404", (dialled.exceptionOrNull() as? IllegalStateException)?.message)
        assertTrue(app.adverts.isEmpty())
    }

    @Test
    fun aQrSessionAndALinkedOneExcludeEachOther() = run { app ->
        val (held, row) = link(app)
        val notNow = UserMessage("Not possible now", "A hybrid session already runs; wait for it or cancel it.", canRetry = false)

        // A QR session advertises (the core holds it): the linked sign-in is refused, the QR one goes on.
        val qr = TestBrowser(asksToLink = false)
        assertNull(app.flow.scanned(qr.qrText))
        app.screens.hybrid.consent(null)
        val qrJob = app.flow.serveHybrid()!!
        withContext(Dispatchers.IO) { app.adverts.poll(20, TimeUnit.SECONDS) ?: error("the phone did not advertise") }
        withTimeout(20_000) { app.screens.hybrid.ui.first { it.step == HybridState.Step.Advertising } }
        app.flow.act { linkedSignIn.signIn(row) }!!.join()
        assertEquals(notNow, app.signIn.ui.value.error)
        assertEquals(LinkedSignInState.Step.Finished, app.signIn.ui.value.step)
        app.signIn.cancel() // nothing of its own runs: the QR session is not touched
        assertEquals(HybridState.Step.Advertising, app.screens.hybrid.ui.value.step)
        app.screens.hybrid.cancel()
        withTimeout(20_000) { qrJob.join() }
        assertEquals("Cancelled", app.screens.hybrid.ui.value.error?.title)
        app.screens.hybrid.reset()
        app.signIn.reset()

        // The linked browser called (the core holds that session): a QR code is refused.
        val job = app.flow.act { linkedSignIn.signIn(row) }!!
        app.waitFor(LinkedSignInState.Step.Waiting)
        withContext(Dispatchers.IO) {
            val browser = LinkedTestBrowser(held)
            val call = browser.dial(app.tunnel.url)
            val advert = app.adverts.poll(20, TimeUnit.SECONDS) ?: error("the phone did not advertise")
            app.adverts.put(advert)
            app.waitFor(LinkedSignInState.Step.Advertising)
            val other = TestBrowser(asksToLink = false)
            assertNull(app.flow.scanned(other.qrText))
            app.screens.hybrid.consent(null)
            withTimeout(20_000) { app.flow.serveHybrid()!!.join() }
            assertEquals(notNow, app.screens.hybrid.ui.value.error)
            assertEquals(LinkedSignInState.Step.Advertising, app.signIn.ui.value.step)
            val session = browser.connect(call, app.adverts)
            assertEquals(0, session.request(Fixture.getAssertion("example.com"))[0].toInt())
            session.shutdown()
        }
        withTimeout(20_000) { job.join() }
        assertEquals(HybridServed(HybridOperation.SIGN_IN, "example.com"), app.signIn.ui.value.served)
    }
}
