"""Activation when things go wrong: server errors, timeouts, a dead server, TLS failures,
expired, used and malformed links. Each gets its own clear error, nothing is lost, and the
activation can be retried."""

from __future__ import annotations

import socket

from wslib import phone_cli

EMAIL = "frank@acme.example"


def assigned(server, client_pin=False) -> str:
    user = server.add_user(EMAIL, "Frank")
    server.assign(user, client_pin=client_pin)
    return server.link_for(EMAIL)


def activate(data_dir, link):
    return phone_cli(data_dir, "activate", link, "--allow-insecure-loopback")


def error_of(result) -> str:
    assert result.returncode != 0, f"expected a failure, got: {result.stdout}"
    return result.stderr.strip()


def unactivated(data_dir) -> bool:
    r = phone_cli(data_dir, "status")
    return r.returncode == 0 and r.stdout.strip() == "status: unactivated"


def test_transient_server_errors_are_retried_with_backoff(server, tmp_path):
    link = assigned(server)
    server.fault("/api/v1/activations", 2, "status_503")
    r = activate(tmp_path / "p", link)
    assert r.returncode == 0 and "status: active" in r.stdout, r.stderr


def test_persistent_server_errors_leave_nothing_and_can_be_retried(server, tmp_path):
    link = assigned(server)
    server.fault("/api/v1/activations", 10, "status_500")
    assert error_of(activate(tmp_path / "p", link)) == \
        "virtual-phone: the workspace answered 500 (internal); try again later"
    assert unactivated(tmp_path / "p")
    server.admin("DELETE", "/admin/faults")
    assert "status: active" in activate(tmp_path / "p", link).stdout


def test_a_dead_server_is_reported_and_the_activation_can_be_retried(server, tmp_path):
    link = assigned(server)
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]
    dead_link = link.replace(server.url.split("//")[1], f"127.0.0.1:{dead_port}")
    assert error_of(activate(tmp_path / "p", dead_link)) == \
        "virtual-phone: the workspace server could not be reached: the connection failed"
    assert unactivated(tmp_path / "p")
    assert "status: active" in activate(tmp_path / "p", link).stdout


def test_a_tls_failure_is_reported_as_such(server, tmp_path):
    link = assigned(server)
    # An https link to the emulator's plain-http port: the TLS handshake fails.
    tls_link = link.replace("http://", "https://")
    err = error_of(activate(tmp_path / "p", tls_link))
    assert err.startswith("virtual-phone: the secure connection to the workspace failed: "), err
    assert unactivated(tmp_path / "p")


def test_a_slow_server_times_out_and_the_activation_can_be_retried(server, tmp_path):
    link = assigned(server)
    server.fault("/api/v1/activations", 4, "delay_ms", delay_ms=3000)
    r = phone_cli(tmp_path / "p", "--workspace-timeout-ms", "400", "activate", link,
                  "--allow-insecure-loopback")
    assert error_of(r) == "virtual-phone: the workspace server could not be reached: the request timed out"
    assert unactivated(tmp_path / "p")
    server.admin("DELETE", "/admin/faults")
    r = phone_cli(tmp_path / "p", "--workspace-timeout-ms", "400", "activate", link,
                  "--allow-insecure-loopback")
    assert r.returncode == 0 and "status: active" in r.stdout, r.stderr


def test_one_slow_answer_is_retried(server, tmp_path):
    link = assigned(server)
    server.fault("/api/v1/activations", 1, "delay_ms", delay_ms=2000)
    r = phone_cli(tmp_path / "p", "--workspace-timeout-ms", "500", "activate", link,
                  "--allow-insecure-loopback")
    assert r.returncode == 0 and "status: active" in r.stdout, r.stderr


def test_expired_link(make_server, tmp_path):
    server = make_server("--link-ttl-secs", "1")
    link = assigned(server)
    import time
    time.sleep(2.2)
    assert error_of(activate(tmp_path / "p", link)) == \
        "virtual-phone: this activation link has expired; ask your administrator for a new one"
    assert unactivated(tmp_path / "p")


def test_a_link_used_by_another_device(server, tmp_path):
    link = assigned(server)
    assert activate(tmp_path / "first", link).returncode == 0
    assert error_of(activate(tmp_path / "second", link)) == \
        "virtual-phone: this activation link was already used by another device"
    assert unactivated(tmp_path / "second")


def test_an_unknown_code(server, tmp_path):
    link = assigned(server)
    code = link.rsplit("=", 1)[1]
    other = link[: -len(code)] + ("0" * 26 if code != "0" * 26 else "1" * 26)
    assert error_of(activate(tmp_path / "p", other)) == (
        "virtual-phone: the workspace does not know this activation link; "
        "ask your administrator for a new one")


def test_a_revoked_assignment(server, tmp_path):
    link = assigned(server)
    user = [u for u in server.admin("GET", "/admin/users") if u["email"] == EMAIL][0]
    server.admin("POST", f"/admin/users/{user['id']}/revoke")
    assert error_of(activate(tmp_path / "p", link)) == \
        "virtual-phone: the administrator revoked this security key assignment"


def test_malformed_and_insecure_links_never_reach_the_network(server, tmp_path):
    link = assigned(server)
    r = phone_cli(tmp_path / "p", "activate", link)  # http without the test setting
    assert error_of(r) == "virtual-phone: this activation link is not for a secure (https) address"
    for bad in ["", "not a link", "https://acme.example/activate", "ftp://x/activate?code=1",
                link + "&extra=1", link + "#frag", "https://acme.example/activate?code=" + "0" * 25,
                "https://" + "a" * 3000]:
        r = phone_cli(tmp_path / "p", "activate", bad)
        assert r.returncode != 0 and r.stderr.startswith("virtual-phone: "), bad
        assert "0" * 25 not in r.stderr, "the code is never echoed"
    assert unactivated(tmp_path / "p")


def test_a_second_activation_while_active_is_refused(server, tmp_path):
    link = assigned(server)
    assert activate(tmp_path / "p", link).returncode == 0
    other = server.add_user("grace@acme.example", "Grace")
    server.assign(other, client_pin=False)
    err = error_of(activate(tmp_path / "p", server.link_for("grace@acme.example")))
    assert "is already the security key of" in err
