"""The CTAPHID layer over the socket (proto/ctaphid-socket.md, CTAP 2.1 §11.2)."""

import os
import struct
import threading
import time

import pytest
from fido2.hid import CAPABILITY

from phonelib import (BROADCAST_CID, HERR_CHANNEL_BUSY, HERR_INVALID_CMD,
                      HERR_MSG_TIMEOUT, HID_CBOR, HID_ERROR, HID_INIT, HID_KEEPALIVE, HID_LOCK,
                      HID_MSG, HID_PING, MAX_MESSAGE, RP, cdh, init_packet,
                      strict_loads, user)


def test_init_allocates_a_channel_and_reports_capabilities(phone):
    raw = phone.raw()
    nonce = os.urandom(8)
    m = raw.call(BROADCAST_CID, HID_INIT, nonce)
    assert (m.cid, m.cmd) == (BROADCAST_CID, HID_INIT)
    assert len(m.payload) == 17 and m.payload[:8] == nonce
    cid, version, _maj, _min, _build, caps = struct.unpack_from(">IBBBBB", m.payload, 8)
    assert cid not in (0, BROADCAST_CID)
    assert version == 2
    assert caps == CAPABILITY.WINK | CAPABILITY.CBOR | CAPABILITY.NMSG
    assert raw.allocate() != cid, "each INIT on the broadcast channel gets a new channel"


def test_python_fido2_device_sees_cbor_without_u2f(phone):
    dev = phone.device()
    assert dev.capabilities & CAPABILITY.CBOR
    assert dev.capabilities & CAPABILITY.NMSG, "NMSG: no CTAP1/U2F"


@pytest.mark.parametrize("size", [0, 1, 57, 58, 116, 117, 1000, MAX_MESSAGE])
def test_ping_echoes_up_to_the_largest_message(phone, size):
    dev = phone.device()
    data = os.urandom(size)
    assert dev.ping(data) == data


def test_wink(phone):
    phone.device().wink()


@pytest.mark.parametrize("cmd", [HID_MSG, HID_LOCK])
def test_msg_and_lock_are_invalid_commands(phone, cmd):
    raw = phone.raw()
    cid = raw.allocate()
    m = raw.call(cid, cmd, b"\x00\x01\x00\x00\x00" if cmd == HID_MSG else b"\x05")
    assert (m.cid, m.cmd, m.payload) == (cid, HID_ERROR, bytes([HERR_INVALID_CMD]))


def test_init_on_own_channel_resynchronises(phone):
    raw = phone.raw()
    cid = raw.allocate()
    nonce = os.urandom(8)
    m = raw.call(cid, HID_INIT, nonce)
    assert (m.cid, m.cmd) == (cid, HID_INIT)
    assert m.payload[:8] == nonce and struct.unpack_from(">I", m.payload, 8)[0] == cid


def test_unfinished_message_times_out(phone):
    raw = phone.raw()
    cid = raw.allocate()
    raw.write(init_packet(cid, HID_PING, 100, b"x" * 57))
    t0 = time.monotonic()
    m = raw.read_message(timeout=10)
    waited = time.monotonic() - t0
    assert (m.cid, m.cmd, m.payload) == (cid, HID_ERROR, bytes([HERR_MSG_TIMEOUT]))
    assert 2.0 <= waited <= 6.0, f"the contract says 3 s, waited {waited:.2f}s"
    assert raw.call(cid, HID_PING, b"after").payload == b"after"


def test_other_channel_is_busy_while_a_request_waits_for_the_user(make_phone):
    phone = make_phone("--presence", "ignore", "--user-timeout-ms", "1500")
    raw = phone.raw()
    a, b = raw.allocate(), raw.allocate()
    from fido2 import cbor
    mc = b"\x01" + cbor.encode({1: cdh(), 2: RP, 3: user(1), 4: [{"type": "public-key", "alg": -7}]})
    raw.send(a, HID_CBOR, mc)
    first = raw.read_report()
    assert first[4] == 0x80 | HID_KEEPALIVE and first[7] == 2, "keepalive: user presence needed"
    m = raw.call(b, HID_PING, b"hello")
    while m.cid == a:  # skip a's keepalives
        m = raw.read_message()
    assert (m.cid, m.cmd, m.payload) == (b, HID_ERROR, bytes([HERR_CHANNEL_BUSY]))
    final = raw.read_message()
    assert (final.cid, final.cmd) == (a, HID_CBOR)
    assert final.payload == bytes([0x2F]), "CTAP2_ERR_USER_ACTION_TIMEOUT"
    assert all(k == 2 for k in final.keepalives)


def test_cancel_ends_a_waiting_request(make_phone):
    from fido2.ctap import CtapError
    phone = make_phone("--presence", "ignore")
    ctap = phone.ctap2()
    event = threading.Event()
    statuses = []
    threading.Timer(0.3, event.set).start()
    t0 = time.monotonic()
    with pytest.raises(CtapError) as e:
        ctap.make_credential(cdh(), RP, user(1), [{"type": "public-key", "alg": -7}],
                             event=event, on_keepalive=statuses.append)
    assert e.value.code == CtapError.ERR.KEEPALIVE_CANCEL
    assert time.monotonic() - t0 < 5
    assert statuses and statuses[0] == 2  # STATUS.UPNEEDED
    assert ctap.get_info().versions


def test_concurrent_connections_are_each_served(phone):
    """Several connections may be open at once (contract); each is its own HID session."""
    devs = [phone.ctap2() for _ in range(4)]
    for d in devs:
        assert d.get_info().aaguid == devs[0].info.aaguid
    raw = phone.raw()
    cid = raw.allocate()
    info = strict_loads(raw.cbor(cid, b"\x04")[1:])
    assert info[0x03] == bytes(devs[0].info.aaguid)


def test_other_connections_wait_their_turn_and_get_info_answers_at_once(make_phone):
    """proto/ctaphid-socket.md: CBOR requests from different connections are served one after
    another (the later one gets PROCESSING keepalives meanwhile); getInfo never waits for a
    prompt on another connection. Within one connection another channel is busy (tested above)."""
    from fido2 import cbor
    phone = make_phone("--presence", "ignore", "--user-timeout-ms", "1500")
    r1, r2 = phone.raw(), phone.raw()
    a, b = r1.allocate(), r2.allocate()
    r1.send(a, HID_CBOR, b"\x01" + cbor.encode(
        {1: cdh(), 2: RP, 3: user(1), 4: [{"type": "public-key", "alg": -7}]}))
    assert r1.read_report()[4] == 0x80 | HID_KEEPALIVE  # a's request is running
    t0 = time.monotonic()
    info = r2.call(b, HID_CBOR, b"\x04")
    assert info.cmd == HID_CBOR and info.payload[0] == 0, "getInfo is answered"
    assert time.monotonic() - t0 < 1.0, "getInfo did not wait for the other connection's prompt"
    # A second makeCredential waits for the first (which times out after 1.5 s), then runs.
    m = r2.call(b, HID_CBOR, b"\x01" + cbor.encode(
        {1: cdh(), 2: RP, 3: user(2), 4: [{"type": "public-key", "alg": -7}]}))
    assert m.cmd == HID_CBOR
    assert m.keepalives, "the waiting request gets keepalives"
    assert m.payload[:1] == bytes([0x2F]), "it then runs and itself times out on the ignored prompt"
    first = r1.read_message()
    assert first.payload[:1] == bytes([0x2F])
