"""On-behalf registration end to end, with real processes on loopback: the workspace server,
the relay, the administrator's pairing tool in OBR mode, the user's virtual phone (serving its
link and the workspace's events), python-fido2 as the admin's and the user's clients, and
Fido2Server as the relying party.

The administrator registers a passkey for the user; the user approves on the phone; then the
user signs in with it from their own paired PC. Refusals: the user denies or does not answer,
an RP outside the grant, the count used up, and every other command during OBR; OBR may only
add (an attempt to replace the user's own passkey, the PIN probe, a grant swapped on the link)."""

from __future__ import annotations

import time

import pytest
from fido2.client import ClientError, DefaultClientDataCollector, Fido2Client, UserInteraction
from fido2.ctap import CtapError
from fido2.ctap2 import Ctap2
from fido2.hid import CtapHidDevice
from fido2.hid.base import HidDescriptor
from fido2.server import Fido2Server

from linklib import AdminTool, PairingTool, Process, phone_cli
from phonelib import REPORT_LEN, TcpHidConnection, phone_binary

ORIGIN = "https://crm.example"
RP = {"id": "crm.example", "name": "CRM"}
ALICE = "alice@acme.example"
DENIED = CtapError.ERR.OPERATION_DENIED


class Silent(UserInteraction):
    def prompt_up(self):
        pass

    def request_pin(self, permissions, rp_id):
        raise AssertionError("no PIN may be asked during on-behalf registration")

    def request_uv(self, permissions, rp_id):
        return True


def device(addr) -> CtapHidDevice:
    desc = HidDescriptor("tcp:%s:%d" % addr, 0, 0, REPORT_LEN, REPORT_LEN, "tool", "0")
    return CtapHidDevice(desc, TcpHidConnection(addr))


def active_phone(procs, server, tmp_path, *flags: str) -> Process:
    """Alice's phone: activated (no client PIN), serving CTAPHID, its link and its events."""
    user = server.add_user(ALICE, "Alice")
    server.assign(user, client_pin=False)
    data = tmp_path / "phone"
    result = phone_cli(data, "activate", server.link_for(ALICE), "--allow-insecure-loopback")
    assert result.returncode == 0, result.stderr
    phone = procs(Process([str(phone_binary()), "--data-dir", str(data), "serve", "--ctaphid",
                           "127.0.0.1:0", "--link", "--allow-insecure-loopback", *flags],
                          data / "serve.log"))
    m = phone.wait_for(r"^ctaphid listening on (127\.0\.0\.1):(\d+)$")
    phone.addr = (m.group(1), int(m.group(2)))
    phone.data_dir = data
    return phone


def assert_refused(tool) -> None:
    """A makeCredential through the admin's tool gets OPERATION_DENIED."""
    with pytest.raises(CtapError) as e:
        Ctap2(device(tool.addr)).send_cbor(0x01, {1: b"\x01" * 32, 2: RP,
                                                  3: {"id": b"u", "name": "u"},
                                                  4: [{"type": "public-key", "alg": -7}]})
    assert e.value.code == DENIED


def passkeys(server) -> list:
    user = [u for u in server.admin("GET", "/admin/users") if u["email"] == ALICE][0]
    return server.admin("GET", f"/admin/users/{user['id']}/passkeys")


def register(addr, rp_id="crm.example", n=1):
    rp = {"id": rp_id, "name": rp_id}
    srv = Fido2Server(rp, attestation="none")
    client = Fido2Client(device(addr),
                         client_data_collector=DefaultClientDataCollector(f"https://{rp_id}"),
                         user_interaction=Silent())
    user = {"id": b"alice-%d" % n, "name": ALICE, "displayName": "Alice"}
    options, state = srv.register_begin(user, resident_key_requirement="required",
                                        user_verification="required")
    return srv, srv.register_complete(state, client.make_credential(options.public_key))


def test_admin_registers_the_user_approves_then_signs_in_from_their_pc(procs, server, relay,
                                                                        tmp_path):
    phone = active_phone(procs, server, tmp_path)
    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example", "--count", "1"))
    phone.wait_for(r"^obr: accepted grant [0-9a-f]{32} from Bob Admin$", timeout=30)
    tool.wait_for(r"^obr accepted$")

    srv, auth_data = register(tool.addr)
    assert auth_data.is_user_verified()
    credential = auth_data.credential_data
    cred_hex = credential.credential_id.hex()
    tool.wait_for(rf"^receipt 1 crm\.example {cred_hex}$")
    phone.wait_for(r"^obr: registered crm\.example \(1/1\)$")

    # The workspace holds the receipt; the phone's audit trail lists the registration.
    phone.wait_for(r"^obr: receipt 1 posted$", timeout=30)
    [passkey] = passkeys(server)
    assert passkey["rp_id"] == "crm.example" and passkey["admin_name"] == "Bob Admin"
    audit = phone_cli(phone.data_dir, "audit").stdout
    assert "obr.grant.accepted" in audit and "obr.registration" in audit
    assert cred_hex in audit

    # The user signs in with it from their own paired PC.
    pc = procs(PairingTool(tmp_path / "alice-pc", relay, name="Alice's laptop"))
    paired = phone_cli(phone.data_dir, "pair", "--allow-insecure-loopback", pc.code())
    assert paired.returncode == 0, paired.stderr
    # The phone's link service picks the new pairing up at its next poll: until then the PC's
    # requests time out (and python-fido2 would fall back to CTAP1).
    deadline = time.monotonic() + 30
    while True:
        try:
            Ctap2(pc.device()).get_info()
            break
        except CtapError:
            assert time.monotonic() < deadline, "the phone never answered its new PC"
    client = Fido2Client(pc.device(), client_data_collector=DefaultClientDataCollector(ORIGIN),
                         user_interaction=Silent())
    options, state = srv.authenticate_begin([credential], user_verification="required")
    got = client.get_assertion(options.public_key).get_response(0)
    srv.authenticate_complete(state, [credential], got)


@pytest.mark.parametrize("answer,flags,code", [
    ("deny", (), "denied"),
    ("ignore", ("--obr-answer-timeout-ms", "1500"), "timeout"),
])
def test_the_user_refuses_and_nothing_is_stored(procs, server, relay, tmp_path, answer, flags,
                                                code):
    phone = active_phone(procs, server, tmp_path, "--obr-approval", answer, *flags)
    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example"))
    tool.wait_for(rf"^obr refused: {code}$", timeout=40)
    phone.wait_for(rf"^obr: refused {code} \(grant {tool.grant_id}\)$")
    assert_refused(tool)
    assert passkeys(server) == []
    assert "0 passkey(s)" in phone_cli(phone.data_dir, "passkeys", "list").stdout


def test_only_in_scope_registrations_within_the_count_are_served(procs, server, relay,
                                                                  tmp_path):
    phone = active_phone(procs, server, tmp_path)
    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example", "--count", "1"))
    tool.wait_for(r"^obr accepted$", timeout=30)
    ctap = Ctap2(device(tool.addr))
    info = ctap.get_info()
    assert info.options.get("uv") is True and "clientPin" not in info.options
    # getAssertion, clientPIN, reset, credential management, selection, config: refused.
    for command, params in [(0x02, {1: "crm.example", 2: b"\x02" * 32}),
                            (0x06, {1: 2, 2: 2}), (0x07, None), (0x0A, {1: 1}), (0x0B, None),
                            (0x0D, {1: 1})]:
        with pytest.raises(CtapError) as e:
            ctap.send_cbor(command, params)
        assert e.value.code == DENIED, hex(command)
    # An RP outside the grant: refused, nothing stored.
    with pytest.raises(ClientError) as e:
        register(tool.addr, rp_id="evil.example")
    assert e.value.cause.code == DENIED
    # In scope: served once; then the count is used up.
    register(tool.addr)
    tool.wait_for(r"^receipt 1 crm\.example [0-9a-f]+$")
    with pytest.raises((ClientError, CtapError)):
        register(tool.addr, n=2)
    assert len(passkeys(server)) == 1
    assert "1 passkey(s)" in phone_cli(phone.data_dir, "passkeys", "list").stdout
    audit = phone_cli(phone.data_dir, "audit").stdout
    assert "outside the grant's scope" in audit
    assert "command 0x02 is not allowed during on-behalf registration" in audit


@pytest.mark.parametrize("fault,code", [
    ("forge_signature", "bad_signature"),
    ("other_key", "wrong_security_key"),
    ("expired", "expired"),
])
def test_a_grant_the_phone_cannot_trust_is_refused_and_the_admin_told(procs, server, relay,
                                                                       tmp_path, fault, code):
    """The workspace's event carries a forged, foreign or expired grant: the phone refuses it on
    arrival without connecting anywhere, reports the refusal, and the admin's tool shows it."""
    phone = active_phone(procs, server, tmp_path)
    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example",
                           "--test-grant-fault", fault))
    tool.wait_for(rf"^obr refused: {code}$", timeout=40)
    phone.wait_for(rf"^obr: refused {code} \(grant [0-9a-f]{{32}}\)$")
    assert_refused(tool)
    assert passkeys(server) == []
    assert "0 passkey(s)" in phone_cli(phone.data_dir, "passkeys", "list").stdout
    assert "obr.grant.refused" in phone_cli(phone.data_dir, "audit").stdout


def test_a_replayed_grant_is_refused(procs, server, relay, tmp_path):
    phone = active_phone(procs, server, tmp_path)
    first = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example", "--count", "1"))
    first.wait_for(r"^obr accepted$", timeout=30)
    register(first.addr)
    first.wait_for(r"^obr ended: ")
    second = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example",
                             "--test-grant-fault", "replay"))
    second.wait_for(r"^obr refused: replayed$", timeout=40)
    assert len(passkeys(server)) == 1
    assert "1 passkey(s)" in phone_cli(phone.data_dir, "passkeys", "list").stdout


def obr_grants(server) -> list:
    return server.admin("GET", "/admin/obr")


def test_the_admin_cannot_replace_the_users_own_passkey(procs, server, relay, tmp_path):
    """The user registered a discoverable passkey at crm.example from their own PC; the admin's
    registration with the same user handle is refused (OPERATION_DENIED) before anything is
    stored, the admin's tool and the workspace show the refusal, the phone audits it, and the
    user's passkey still signs in."""
    phone = active_phone(procs, server, tmp_path)
    srv, own = register(phone.addr)  # user handle b"alice-1", from the user's own PC
    credential = own.credential_data

    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example", "--count", "3"))
    tool.wait_for(r"^obr accepted$", timeout=30)
    with pytest.raises(ClientError) as e:
        register(tool.addr)  # the same rp id and user handle
    assert e.value.cause.code == DENIED
    tool.wait_for(r"^registration refused: passkey_exists$")
    tool.wait_for(r"^obr ended: the phone ended the session$")
    phone.wait_for(r"^obr: refusal passkey_exists reported \(grant [0-9a-f]{32}\)$", timeout=30)

    [grant] = obr_grants(server)
    assert (grant["status"], grant.get("refusal_code")) == ("refused", "passkey_exists")
    assert passkeys(server) == []
    assert "1 passkey(s)" in phone_cli(phone.data_dir, "passkeys", "list").stdout
    audit = phone_cli(phone.data_dir, "audit").stdout
    assert "passkey_exists" in audit and "obr.refusal.reported" in audit
    assert "obr.registration" not in audit

    # The user's own passkey still signs in from their PC.
    client = Fido2Client(device(phone.addr),
                         client_data_collector=DefaultClientDataCollector(ORIGIN),
                         user_interaction=Silent())
    options, state = srv.authenticate_begin([credential], user_verification="required")
    got = client.get_assertion(options.public_key).get_response(0)
    srv.authenticate_complete(state, [credential], got)


def test_a_zero_length_pin_uv_auth_param_probe_tells_the_admin_nothing(procs, server, relay,
                                                                       tmp_path):
    phone = active_phone(procs, server, tmp_path)
    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example", "--count", "1"))
    tool.wait_for(r"^obr accepted$", timeout=30)
    ctap = Ctap2(device(tool.addr))
    with pytest.raises(CtapError) as e:
        ctap.send_cbor(0x01, {1: b"\x01" * 32, 2: RP, 3: {"id": b"u", "name": "u"},
                              4: [{"type": "public-key", "alg": -7}], 8: b"", 9: 1})
    assert e.value.code == DENIED
    assert "a zero-length pinUvAuthParam probe" in phone_cli(phone.data_dir, "audit").stdout
    # The probe costs the admin nothing: the registration itself is still served.
    register(tool.addr)
    tool.wait_for(r"^receipt 1 crm\.example [0-9a-f]+$")


@pytest.mark.parametrize("swap", ["malleate", "other"])
def test_a_grant_swapped_on_the_link_is_refused(procs, server, relay, tmp_path, swap):
    """The tool hands the phone a grant other than the one announced: the same grant with a
    malleated (still valid) signature, or a second grant the workspace issued to the same
    tool. Refused before the user is asked; nothing is served."""
    phone = active_phone(procs, server, tmp_path)
    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example",
                           "--test-link-grant", swap))
    tool.wait_for(r"^obr refused: grant_mismatch$", timeout=40)
    phone.wait_for(rf"^obr: refused grant_mismatch \(grant {tool.grant_id}\)$")
    assert_refused(tool)
    assert passkeys(server) == []
    audit = phone_cli(phone.data_dir, "audit").stdout
    assert "grant_mismatch" in audit and "obr.grant.accepted" not in audit


def test_the_phone_shows_its_obr_key_not_its_device_key(procs, server, relay, tmp_path):
    """The phone's static key in the OBR handshake is its own OBR key (told to the workspace at
    activation), not the device key that signs its workspace requests and receipts: a tool that
    expects the device key does not recognise the phone, and the normal tool does."""
    phone = active_phone(procs, server, tmp_path)
    tool = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example",
                           "--test-expect-device-key"))
    tool.wait_for(r"^obr failed: the phone is not the user's security key$", timeout=40)
    assert "obr accepted" not in tool.lines
    # The tool deletes the session once it sees the phone's key (the phone may or may not have
    # read the handshake's answer by then): the grant never comes.
    phone.wait_for(r"^obr: failed \(grant [0-9a-f]{32}\): the (handshake with the admin's "
                   r"pairing tool failed|admin's pairing tool did not send the grant)")
    tool.stop()
    for grant in obr_grants(server):
        server.admin("DELETE", f"/admin/obr/{grant['grant_id']}")
    ok = procs(AdminTool(tmp_path, relay, server, "--rp", "crm.example", "--count", "1"))
    ok.wait_for(r"^obr accepted$", timeout=40)
    register(ok.addr)
    ok.wait_for(r"^receipt 1 crm\.example [0-9a-f]+$")
