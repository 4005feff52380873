"""Runs independent SCIM checkers against a real workspace-server (tests/scim/run.sh).

scim2-tester (RFC 7643/7644 compliance) and schemathesis (requests generated from
proto/scim-openapi.yaml, every answer checked against the description). Prints each failed
check, then one line `N passed, N failed` per tool and a total; exits non-zero on failure.
Deliberate deviations are explained in proto/scim.md; KNOWN lists the scim2-tester checks
they make fail, so a new failure is never hidden by them.
"""

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVER = os.environ.get("WORKSPACE_SERVER", str(REPO / "target/debug/workspace-server"))

# scim2-tester check titles that fail by a choice explained in proto/scim.md.
KNOWN: dict[str, str] = {
    "check_remove_attribute displayName": "the workspace always has a display name; removing it "
    "falls back to name.formatted, given and family name, then userName (proto/scim.md)",
    "check_remove_attribute active": "an absent active means active, as Entra ID always sends it "
    "(proto/scim.md)",
}


def known_reason(result):
    """The reason a failure is a known deviation, or None."""
    attribute = (result.data or {}).get("urn") if isinstance(result.data, dict) else None
    return KNOWN.get(f"{result.title} {attribute}")


def start_server():
    process = subprocess.Popen(
        [SERVER, "serve", "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    prefix = "workspace listening on "
    if not line.startswith(prefix):
        process.kill()
        raise SystemExit(f"workspace-server did not start: {line!r}")
    return process, line[len(prefix):].strip()


def issue_token(url):
    request = urllib.request.Request(f"{url}/admin/scim-token", method="POST", data=b"{}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["token"]


def run_scim2_tester(url, token):
    from httpx2 import Client
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import Status, check_server

    http = Client(base_url=f"{url}/scim/v2", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client = SyncSCIMClient(http)
    client.discover()
    results = check_server(client)
    good = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}
    passed = failed = skipped = known = 0
    for result in results:
        name = f"{result.resource_type or '-'}: {result.title}"
        if result.status in good:
            passed += 1
        elif result.status == Status.SKIPPED:
            skipped += 1
        elif known_reason(result) and result.resource_type == "User":
            known += 1
            print(f"scim2-tester KNOWN {result.status.name} {name}: {known_reason(result)}")
        else:
            failed += 1
            print(f"scim2-tester FAILED {result.status.name} {name}: {result.reason}")
            if os.environ.get("SCIM_DEBUG"):
                print(f"    data: {result.data!r}"[:1500])
    print(f"scim2-tester: {passed} passed, {failed} failed ({known} known deviations, {skipped} skipped)")
    return passed, failed


def run_schemathesis(url, token):
    spec = REPO / "proto/scim-openapi.yaml"
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file", str(REPO / "tests/scim/schemathesis.toml"),
        "run", str(spec),
        "--url", f"{url}/scim/v2",
        "-H", f"Authorization: Bearer {token}",
        "--max-examples", os.environ.get("SCHEMATHESIS_EXAMPLES", "30"),
        "--seed", "2026",
        "--no-color",
    ]
    log = REPO / "target/scim-schemathesis.log"
    log.parent.mkdir(exist_ok=True)
    # schemathesis keeps a cache in its working directory: the build's, not the repo's.
    outcome = subprocess.run(command, capture_output=True, text=True, timeout=1200,
                             cwd=log.parent)
    log.write_text(outcome.stdout + outcome.stderr)
    # The failures (if any) and the summary; the whole report is in the log.
    text = outcome.stdout
    start = text.find("=== FAILURES ===")
    print(text[start - 40:] if start >= 0 and outcome.returncode else text[text.find("=== SUMMARY ==="):])
    print(outcome.stderr[-2000:], file=sys.stderr)
    print(f"(full schemathesis report: {log})")
    # "1650 generated, 1650 passed, 36 skipped" or "1650 generated, 24 found 24 unique failures"
    generated = re.search(r"(\d+) generated", text)
    passed = re.search(r"generated, (\d+) passed", text)
    failures = re.search(r"(\d+) unique failures", text)
    failed = int(failures.group(1)) if failures else 0
    if outcome.returncode != 0 and failed == 0:
        failed = 1  # an error before or besides the checks
    if passed:
        return int(passed.group(1)), failed
    total = int(generated.group(1)) if generated else 0
    return max(total - failed, 0), failed


def main():
    process, url = start_server()
    try:
        token = issue_token(url)
        passed, failed = run_scim2_tester(url, token)
        if os.environ.get("SKIP_SCHEMATHESIS") == "1":
            st_passed = st_failed = 0
            print("schemathesis: skipped (SKIP_SCHEMATHESIS=1)")
        else:
            st_passed, st_failed = run_schemathesis(url, token)
            print(f"schemathesis: {st_passed} passed, {st_failed} failed (generated test cases)")
    finally:
        process.kill()
        process.wait()
    total_passed, total_failed = passed + st_passed, failed + st_failed
    print(f"{total_passed} passed, {total_failed} failed")
    return 1 if total_failed else 0


if __name__ == "__main__":
    sys.exit(main())
