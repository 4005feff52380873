// A browser that holds a phone's linking information (TestBrowser.LinkingInfo) and comes back
// without a QR code (CTAP 2.2 §11.5 state-assisted hybrid; proto/hybrid.md "Linking"), written
// with the JDK's crypto for host tests against the real core and the real tunnel server:
// dials `/cable/contact/{base64url contact id}` with its client payload in
// `X-caBLE-Client-Payload` (hex of CBOR {1: link id, 2: 16-byte nonce, 3: "ga"|"mc"}), reads
// the phone's advert under HKDF(link secret, salt = nonce, purpose 1), and runs
// Noise_NKpsk0_P256_AESGCM_SHA256 as the initiator (prologue 0x00, the phone's identity key as
// the responder's pre-message, psk HKDF(link secret, salt = the advert's plaintext, purpose 3)).
// It can hold a wrong link secret (a browser in bad faith, or one that kept a stale link).
package com.passkeyphone.coreui

import java.net.http.WebSocketHandshakeException
import java.security.SecureRandom
import java.security.interfaces.ECPublicKey
import java.util.Base64
import java.util.concurrent.BlockingQueue
import java.util.concurrent.ExecutionException
import java.util.concurrent.TimeUnit
import javax.crypto.Cipher
import javax.crypto.spec.SecretKeySpec

class LinkedTestBrowser(private val info: TestBrowser.LinkingInfo, private val wrongSecret: Boolean = false) {
    private val secret: ByteArray = info.linkSecret.copyOf().also { if (wrongSecret) it[0] = (it[0].toInt() xor 1).toByte() }

    /** The dialled contact, before the handshake: the phone got the payload and may advertise. */
    inner class Call(val tunnel: TestBrowser.Tunnel, val nonce: ByteArray)

    /**
     * Dials the phone's contact at [tunnelUrl] (ws://host:port) with a fresh nonce. The phone
     * starts listening only after the user tapped "Sign in from this computer" and the core
     * reached the tunnel server, which the test cannot observe (a real browser would have the
     * phone woken by push, which this platform lacks); until then the server answers 404, so
     * the browser tries again, [attempts] times at most, 100 ms apart.
     */
    fun dial(tunnelUrl: String, hint: String = "ga", attempts: Int = 100): Call {
        val nonce = ByteArray(16).also(SecureRandom()::nextBytes)
        val payload = TestBrowser.hex(Cbor.encode(mapOf(1 to info.linkId, 2 to nonce, 3 to hint)))
        val contact = Base64.getUrlEncoder().withoutPadding().encodeToString(info.contactId)
        var attempt = 1
        while (true) {
            try {
                return Call(TestBrowser.Tunnel("$tunnelUrl/cable/contact/$contact", mapOf(PAYLOAD_HEADER to payload)), nonce)
            } catch (e: ExecutionException) {
                val status = (e.cause as? WebSocketHandshakeException ?: throw e).response.statusCode()
                check(status == 404 && attempt < attempts) { "the tunnel server answered $status" }
                attempt++
                Thread.sleep(100)
            }
        }
    }

    /**
     * Waits for the phone's advert in [adverts] (the BLE scan), then runs the handshake. With
     * a wrong secret the advert's tag does not check, so the browser guesses its plaintext
     * (all zeros): its psk is wrong either way, and the phone must refuse the handshake.
     */
    fun connect(call: Call, adverts: BlockingQueue<ByteArray>): TestBrowser.Session {
        val advert = adverts.poll(20, TimeUnit.SECONDS) ?: error("the phone did not advertise")
        check(advert.size == 20) { "an advert is 20 bytes" }
        val eidKey = TestBrowser.hkdf(secret, call.nonce, TestBrowser.purpose(1), 64)
        val tagChecks = TestBrowser.hmac(eidKey.copyOfRange(32, 64), advert.copyOfRange(0, 16)).copyOfRange(0, 4)
            .contentEquals(advert.copyOfRange(16, 20))
        check(tagChecks != wrongSecret) { "the advert's tag checked: $tagChecks, with the wrong secret: $wrongSecret" }
        val eid = if (wrongSecret) {
            ByteArray(16)
        } else {
            Cipher.getInstance("AES/ECB/NoPadding").run {
                init(Cipher.DECRYPT_MODE, SecretKeySpec(eidKey.copyOfRange(0, 32), "AES"))
                doFinal(advert.copyOfRange(0, 16))
            }
        }
        val psk = TestBrowser.hkdf(secret, eid, TestBrowser.purpose(3), 32)

        val phone = TestBrowser.publicKey(info.phoneIdentity)
        val noise = TestBrowser.Noise("Noise_NKpsk0_P256_AESGCM_SHA256")
        noise.mixHash(byteArrayOf(0))
        noise.mixHash(info.phoneIdentity)
        // -> psk, e, es
        noise.mixKeyAndHash(psk)
        val ephemeral = TestBrowser.p256()
        val e = TestBrowser.uncompressed(ephemeral.public as ECPublicKey)
        noise.mixHash(e)
        noise.mixKey(e)
        noise.mixKey(TestBrowser.dh(ephemeral.private, phone))
        call.tunnel.send(e + noise.encryptAndHash(ByteArray(0)))
        // <- e, ee
        val reply = call.tunnel.recv()
        check(reply.size == 81) { "the phone's handshake reply is ${reply.size} bytes" }
        val re = reply.copyOfRange(0, 65)
        noise.mixHash(re)
        noise.mixKey(re)
        noise.mixKey(TestBrowser.dh(ephemeral.private, TestBrowser.publicKey(re)))
        noise.decryptAndHash(reply.copyOfRange(65, 81))
        val (write, read) = noise.split()
        return TestBrowser.Session(call.tunnel, write, read, noise.h.copyOf(), identity = null)
    }

    companion object {
        const val PAYLOAD_HEADER = "X-caBLE-Client-Payload"
    }
}
