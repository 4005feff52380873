// The smallest tunnel server the core's hybrid session accepts, for host tests of the screen:
// on 127.0.0.1 (a port chosen at run time) it answers the phone's WebSocket upgrade to
// `/cable/new/{tunnel id}` with the `fido.cable` subprotocol and an `X-caBLE-Routing-ID`
// (CTAP 2.2 11.5; Chromium `tunnelserver`), then holds the connection open without ever
// forwarding a browser, so the session stays at "advertising" until the test ends it.
// Answers with `status` other than 101 refuse the upgrade (a broken server).
package com.passkeyphone.coreui

import java.net.InetAddress
import java.net.ServerSocket
import java.net.Socket
import java.security.MessageDigest
import java.util.Base64
import java.util.Collections
import kotlin.concurrent.thread

class LoopbackTunnelServer(private val status: Int = 101) : AutoCloseable {
    private val server = ServerSocket(0, 8, InetAddress.getLoopbackAddress())
    private val open: MutableList<Socket> = Collections.synchronizedList(mutableListOf())

    /** The request lines the phone sent ("GET /cable/new/... HTTP/1.1"). */
    val requests: MutableList<String> = Collections.synchronizedList(mutableListOf())

    /** What the core's `hybridTunnelUrl` option takes. */
    val url: String get() = "ws://127.0.0.1:${server.localPort}"

    private val acceptor = thread(isDaemon = true, name = "loopback-tunnel") {
        while (!server.isClosed) {
            val socket = runCatching { server.accept() }.getOrNull() ?: break
            open += socket
            thread(isDaemon = true) { runCatching { answer(socket) } }
        }
    }

    private fun answer(socket: Socket) {
        val input = socket.getInputStream().bufferedReader(Charsets.ISO_8859_1)
        val head = generateSequence { input.readLine() }.takeWhile { it.isNotEmpty() }.toList()
        requests += head.first()
        val key = head.firstNotNullOf { line ->
            line.split(":", limit = 2).takeIf { it.size == 2 && it[0].trim().equals("Sec-WebSocket-Key", true) }?.get(1)?.trim()
        }
        val out = socket.getOutputStream()
        if (status != 101) {
            out.write("HTTP/1.1 $status Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".toByteArray())
            out.flush()
            socket.close()
            return
        }
        // RFC 6455 4.2.2: the accept value is base64(SHA-1(key + the protocol's GUID)).
        val accept = Base64.getEncoder().encodeToString(
            MessageDigest.getInstance("SHA-1").digest((key + WEBSOCKET_GUID).toByteArray()),
        )
        out.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\n" +
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n" +
                    "Sec-WebSocket-Accept: $accept\r\n" +
                    "Sec-WebSocket-Protocol: fido.cable\r\n" +
                    "X-caBLE-Routing-ID: $ROUTING_ID\r\n\r\n"
                ).toByteArray(),
        )
        out.flush()
        // Hold the tunnel: read (and drop) whatever comes until the phone or close() ends it.
        val buffer = ByteArray(4096)
        while (socket.getInputStream().read(buffer) >= 0) Unit
    }

    override fun close() {
        server.close()
        synchronized(open) { open.forEach { runCatching { it.close() } } }
        acceptor.join(2_000)
    }

    companion object {
        const val WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        const val ROUTING_ID = "0a0b0c"
    }
}
