// The workspace's reference tunnel server (tests/tunnel-server) as a child process, for host
// tests in which a browser and the phone really meet: it binds 127.0.0.1 on a port it picks
// and prints `tunnel-server listening on ADDR`; close() stops this process (and only it).
// The binary sits next to the core's host library (`jna.library.path`, target/debug), built by
// host-test.sh and build-rust.sh.
package com.passkeyphone.coreui

import java.io.File
import java.util.concurrent.TimeUnit

class TunnelServerProcess : AutoCloseable {
    private val process: Process
    private val ready = "tunnel-server listening on "

    /** What the core's `hybridTunnelUrl` option and the test browser take. */
    val url: String

    init {
        val binary = File(System.getProperty("jna.library.path") ?: "target/debug", "tunnel-server")
        check(binary.canExecute()) { "no tunnel server at $binary: cargo build -p tunnel-server" }
        process = ProcessBuilder(binary.path, "--listen", "127.0.0.1:0")
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start()
        val line = process.inputStream.bufferedReader().readLine()
        if (line == null || !line.startsWith(ready)) {
            process.destroy()
            error("the tunnel server did not start: $line")
        }
        url = "ws://${line.removePrefix(ready).trim()}"
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(5, TimeUnit.SECONDS)) process.destroyForcibly()
    }
}
