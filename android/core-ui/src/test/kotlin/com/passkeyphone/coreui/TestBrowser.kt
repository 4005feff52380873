// The browser's side of a hybrid session for host tests, written from CTAP 2.2 §11.5 ("Hybrid
// transports") with the JDK's own crypto and WebSocket client, so that a browser really links
// through the core: it shows a `FIDO:/` code (asking for state-assisted linking or not), reads
// the phone's 20-byte advert as its BLE scan would, joins the tunnel at
// `/cable/connect/{routing id}/{tunnel id}`, runs Noise_KNpsk0_P256_AESGCM_SHA256 as the
// initiator (prologue 0x01), reads the post-handshake message, keeps the phone's linking
// information if an update frame brings it (checking its signature over the handshake hash),
// sends one CTAP request and shuts the session down.
package com.passkeyphone.coreui

import java.io.ByteArrayOutputStream
import java.math.BigInteger
import java.net.URI
import java.net.http.HttpClient
import java.net.http.WebSocket
import java.nio.ByteBuffer
import java.security.KeyFactory
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.MessageDigest
import java.security.PrivateKey
import java.security.PublicKey
import java.security.SecureRandom
import java.security.interfaces.ECPublicKey
import java.security.spec.ECGenParameterSpec
import java.security.spec.ECPoint
import java.security.spec.ECPublicKeySpec
import java.util.concurrent.CompletionStage
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import javax.crypto.Cipher
import javax.crypto.KeyAgreement
import javax.crypto.Mac
import javax.crypto.spec.GCMParameterSpec
import javax.crypto.spec.SecretKeySpec

class TestBrowser(private val asksToLink: Boolean) {
    private val identity: KeyPair = p256()
    private val secret = ByteArray(16).also(SecureRandom()::nextBytes)

    /** The QR code's text: CBOR keys 0-5 (key 4: state-assisted linking), in 7-byte chunks of 17 digits. */
    val qrText: String = "FIDO:/" + digits(
        Cbor.encode(
            mapOf(
                0 to compressed(identity.public as ECPublicKey),
                1 to secret,
                2 to 2,
                3 to System.currentTimeMillis() / 1000,
                4 to asksToLink,
                5 to "mc",
            ),
        ),
    )

    /**
     * The phone's linking information, as a browser stores it: what LinkedTestBrowser needs to
     * come back ([phoneIdentity] uncompressed, 65 bytes).
     */
    class LinkingInfo(
        val contactId: ByteArray,
        val linkId: ByteArray,
        val linkSecret: ByteArray,
        val phoneIdentity: ByteArray,
        val name: String,
    )

    /** Reads [advert], joins the tunnel at [tunnelUrl] (ws://host:port) and runs the handshake. */
    fun connect(advert: ByteArray, tunnelUrl: String): Session {
        require(advert.size == 20) { "an advert is 20 bytes" }
        val eidKey = hkdf(secret, ByteArray(0), purpose(1), 64)
        check(hmac(eidKey.copyOfRange(32, 64), advert.copyOfRange(0, 16)).copyOfRange(0, 4).contentEquals(advert.copyOfRange(16, 20))) {
            "the advert was not made with this code's secret"
        }
        val eid = Cipher.getInstance("AES/ECB/NoPadding").run {
            init(Cipher.DECRYPT_MODE, SecretKeySpec(eidKey.copyOfRange(0, 32), "AES"))
            doFinal(advert.copyOfRange(0, 16))
        }
        val routingId = eid.copyOfRange(11, 14)
        val tunnelId = hkdf(secret, ByteArray(0), purpose(2), 16)
        val psk = hkdf(secret, eid, purpose(3), 32)
        val tunnel = Tunnel("$tunnelUrl/cable/connect/${hex(routingId)}/${hex(tunnelId)}")

        val noise = Noise("Noise_KNpsk0_P256_AESGCM_SHA256")
        noise.mixHash(byteArrayOf(1))
        noise.mixHash(uncompressed(identity.public as ECPublicKey))
        noise.mixKeyAndHash(psk)
        val ephemeral = p256()
        val e = uncompressed(ephemeral.public as ECPublicKey)
        noise.mixHash(e)
        noise.mixKey(e)
        tunnel.send(e + noise.encryptAndHash(ByteArray(0)))

        val reply = tunnel.recv()
        check(reply.size == 81) { "the phone's handshake reply is ${reply.size} bytes" }
        val re = reply.copyOfRange(0, 65)
        noise.mixHash(re)
        noise.mixKey(re)
        val phoneEphemeral = publicKey(re)
        noise.mixKey(dh(ephemeral.private, phoneEphemeral))
        noise.mixKey(dh(identity.private, phoneEphemeral))
        noise.decryptAndHash(reply.copyOfRange(65, 81))
        val (write, read) = noise.split()
        return Session(tunnel, write, read, noise.h.copyOf(), identity.private)
    }

    /**
     * The browser's end of an established session. [identity]: the QR identity key, which
     * checks linking information; null for a linked browser's reconnect (no new link then).
     */
    class Session(
        private val tunnel: Tunnel,
        writeKey: ByteArray,
        readKey: ByteArray,
        private val handshakeHash: ByteArray,
        private val identity: PrivateKey?,
    ) {
        private val writer = Direction(writeKey)
        private val reader = Direction(readKey)

        /** The post-handshake message (a CBOR map with the phone's getInfo under key 1). */
        val postHandshake: Map<*, *> = CborReader(reader.open(tunnel.recv())).read() as Map<*, *>

        /** Set when the phone sent its linking information (signature checked). */
        var linking: LinkingInfo? = null
            private set

        /** Sends one CTAP request; returns the phone's answer (status byte, then CBOR). */
        fun request(command: ByteArray): ByteArray {
            tunnel.send(writer.seal(byteArrayOf(CTAP) + command))
            while (true) {
                val frame = reader.open(tunnel.recv())
                when (frame[0]) {
                    CTAP -> return frame.copyOfRange(1, frame.size)
                    UPDATE -> linking = readLinking(frame.copyOfRange(1, frame.size))
                    else -> error("unexpected frame type ${frame[0]}")
                }
            }
        }

        fun shutdown() {
            tunnel.send(writer.seal(byteArrayOf(SHUTDOWN)))
            tunnel.close()
        }

        private fun readLinking(payload: ByteArray): LinkingInfo {
            val info = (CborReader(payload).read() as Map<*, *>)[1L] as Map<*, *>
            val identity = checkNotNull(identity) { "linking information in a linked browser's reconnect" }
            val phoneIdentity = publicKey(info[4L] as ByteArray)
            // HMAC-SHA-256 keyed with x(ECDH(phone identity, QR identity)) over the handshake hash.
            val expected = hmac(dh(identity, phoneIdentity), handshakeHash)
            check(expected.contentEquals(info[6L] as ByteArray)) { "the linking information's signature does not verify" }
            check((info[3L] as ByteArray).size == 32) { "a link secret is 32 bytes" }
            return LinkingInfo(info[1L] as ByteArray, info[2L] as ByteArray, info[3L] as ByteArray, info[4L] as ByteArray, info[5L] as String)
        }
    }

    /** One direction of the v2.1 tunnel encryption: AES-256-GCM, nonce 8 zero bytes + big-endian counter, padded to 32. */
    internal class Direction(private val key: ByteArray) {
        private var counter = 0

        fun seal(plain: ByteArray): ByteArray {
            val padded = ByteArray((plain.size + 1 + 31) / 32 * 32)
            plain.copyInto(padded)
            padded[padded.size - 1] = (padded.size - plain.size - 1).toByte()
            return gcm(Cipher.ENCRYPT_MODE, key, nonce(counter++), ByteArray(0), padded)
        }

        fun open(sealed: ByteArray): ByteArray {
            val padded = gcm(Cipher.DECRYPT_MODE, key, nonce(counter++), ByteArray(0), sealed)
            return padded.copyOfRange(0, padded.size - 1 - (padded.last().toInt() and 0xFF))
        }

        private fun nonce(n: Int) = ByteArray(12).also { ByteBuffer.wrap(it).putInt(8, n) }
    }

    /** Noise's SymmetricState (rev 34 §5.2) with SHA-256 and AES-GCM; every key seals once here. */
    internal class Noise(protocolName: String) {
        // Names of at most 32 bytes are padded with zeros (both hybrid patterns' are 31).
        var h = protocolName.toByteArray().copyOf(32)
        private var ck = h.copyOf()
        private var k: ByteArray? = null

        fun mixHash(data: ByteArray) {
            h = MessageDigest.getInstance("SHA-256").digest(h + data)
        }

        fun mixKey(ikm: ByteArray) {
            val out = hkdf(ikm, ck, ByteArray(0), 64)
            ck = out.copyOfRange(0, 32)
            k = out.copyOfRange(32, 64)
        }

        fun mixKeyAndHash(ikm: ByteArray) {
            val out = hkdf(ikm, ck, ByteArray(0), 96)
            ck = out.copyOfRange(0, 32)
            mixHash(out.copyOfRange(32, 64))
            k = out.copyOfRange(64, 96)
        }

        fun encryptAndHash(plain: ByteArray): ByteArray =
            gcm(Cipher.ENCRYPT_MODE, k!!, ByteArray(12), h, plain).also { mixHash(it) }

        fun decryptAndHash(sealed: ByteArray): ByteArray =
            gcm(Cipher.DECRYPT_MODE, k!!, ByteArray(12), h, sealed).also { mixHash(sealed) }

        /** (initiator -> responder, responder -> initiator). */
        fun split(): Pair<ByteArray, ByteArray> {
            val out = hkdf(ByteArray(0), ck, ByteArray(0), 64)
            return out.copyOfRange(0, 32) to out.copyOfRange(32, 64)
        }
    }

    /** A WebSocket with subprotocol fido.cable (and [headers]); each binary message whole. */
    class Tunnel(url: String, headers: Map<String, String> = emptyMap()) {
        private val messages = LinkedBlockingQueue<Any>()
        private val socket: WebSocket = HttpClient.newHttpClient().newWebSocketBuilder()
            .apply { headers.forEach { (name, value) -> header(name, value) } }
            .subprotocols("fido.cable")
            .buildAsync(URI(url), object : WebSocket.Listener {
                private val partial = ByteArrayOutputStream()

                override fun onBinary(webSocket: WebSocket, data: ByteBuffer, last: Boolean): CompletionStage<*>? {
                    partial.write(ByteArray(data.remaining()).also(data::get))
                    if (last) messages.put(partial.toByteArray()).also { partial.reset() }
                    webSocket.request(1)
                    return null
                }

                override fun onClose(webSocket: WebSocket, statusCode: Int, reason: String): CompletionStage<*>? {
                    messages.put("closed ($statusCode)")
                    return null
                }

                override fun onError(webSocket: WebSocket, error: Throwable) {
                    messages.put(error)
                }
            })
            .get(10, TimeUnit.SECONDS)

        fun send(message: ByteArray) {
            socket.sendBinary(ByteBuffer.wrap(message), true).get(10, TimeUnit.SECONDS)
        }

        fun recv(): ByteArray = when (val next = messages.poll(20, TimeUnit.SECONDS)) {
            is ByteArray -> next
            null -> error("nothing from the phone within 20 s")
            else -> error("the tunnel ended: $next")
        }

        fun close() {
            runCatching { socket.sendClose(WebSocket.NORMAL_CLOSURE, "").get(5, TimeUnit.SECONDS) }
        }
    }

    companion object {
        private const val SHUTDOWN: Byte = 0
        private const val CTAP: Byte = 1
        private const val UPDATE: Byte = 2

        /** Digits for a final partial chunk of n bytes (the digits of 2^(8n) - 1). */
        private val PARTIAL_DIGITS = intArrayOf(0, 3, 5, 8, 10, 13, 15)

        fun digits(bytes: ByteArray): String = bytes.toList().chunked(7).joinToString("") { chunk ->
            val value = chunk.foldIndexed(0L) { i, acc, b -> acc or ((b.toLong() and 0xFF) shl (8 * i)) }
            val width = if (chunk.size == 7) 17 else PARTIAL_DIGITS[chunk.size]
            value.toString().padStart(width, '0')
        }

        internal fun p256(): KeyPair =
            KeyPairGenerator.getInstance("EC").apply { initialize(ECGenParameterSpec("secp256r1")) }.generateKeyPair()

        private fun coordinate(n: BigInteger): ByteArray {
            val raw = n.toByteArray()
            return ByteArray(32).also { raw.copyInto(it, maxOf(0, 32 - raw.size), maxOf(0, raw.size - 32)) }
        }

        private fun compressed(key: ECPublicKey): ByteArray =
            byteArrayOf(if (key.w.affineY.testBit(0)) 3 else 2) + coordinate(key.w.affineX)

        internal fun uncompressed(key: ECPublicKey): ByteArray =
            byteArrayOf(4) + coordinate(key.w.affineX) + coordinate(key.w.affineY)

        internal fun publicKey(sec1: ByteArray): PublicKey {
            require(sec1.size == 65 && sec1[0] == 4.toByte()) { "not an uncompressed P-256 point" }
            val params = (p256().public as ECPublicKey).params
            val point = ECPoint(BigInteger(1, sec1.copyOfRange(1, 33)), BigInteger(1, sec1.copyOfRange(33, 65)))
            return KeyFactory.getInstance("EC").generatePublic(ECPublicKeySpec(point, params))
        }

        /** The x coordinate of the shared point. */
        internal fun dh(mine: PrivateKey, theirs: PublicKey): ByteArray =
            KeyAgreement.getInstance("ECDH").run { init(mine); doPhase(theirs, true); generateSecret() }

        internal fun hmac(key: ByteArray, data: ByteArray): ByteArray =
            Mac.getInstance("HmacSHA256").run { init(SecretKeySpec(key, "HmacSHA256")); doFinal(data) }

        /** RFC 5869 HKDF-SHA-256; an empty salt is 32 zero bytes (the JDK refuses an empty HMAC key). */
        fun hkdf(ikm: ByteArray, salt: ByteArray, info: ByteArray, length: Int): ByteArray {
            val prk = hmac(if (salt.isEmpty()) ByteArray(32) else salt, ikm)
            val out = ByteArrayOutputStream()
            var block = ByteArray(0)
            var i = 1
            while (out.size() < length) {
                block = hmac(prk, block + info + byteArrayOf(i++.toByte()))
                out.write(block)
            }
            return out.toByteArray().copyOf(length)
        }

        /** The hybrid key derivations' info: the purpose as a little-endian u32. */
        internal fun purpose(n: Int) = byteArrayOf(n.toByte(), 0, 0, 0)

        internal fun gcm(mode: Int, key: ByteArray, nonce: ByteArray, ad: ByteArray, data: ByteArray): ByteArray =
            Cipher.getInstance("AES/GCM/NoPadding").run {
                init(mode, SecretKeySpec(key, "AES"), GCMParameterSpec(128, nonce))
                updateAAD(ad)
                doFinal(data)
            }

        internal fun hex(bytes: ByteArray) = bytes.joinToString("") { "%02X".format(it) }
    }
}
