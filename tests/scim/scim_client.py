#!/usr/bin/env python3
"""Drives Keyward's SCIM server with real SCIM libraries (pinned in requirements.txt):

  scim_client.py compliance BASE_URL TOKEN
      runs the scim2-tester compliance checks on the User resource; exits 0 only when no
      check ended in ERROR or CRITICAL and at least one ran.
  scim_client.py lifecycle BASE_URL TOKEN USER_NAME EXTERNAL_ID
      with scim2-client: creates the user, finds it by `userName eq`, replaces and patches
      it, then deprovisions it (PATCH active=false); prints the user's id.
  scim_client.py deprovision BASE_URL TOKEN USER_NAME
      finds an existing user by `userName eq` and sets active=false with PATCH; prints its id.

BASE_URL is the SCIM root, e.g. http://127.0.0.1:8080/scim/v2.
"""
import sys
from collections import Counter, defaultdict

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient


def client(base_url, token):
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
    return SyncSCIMClient(http)


def compliance(base_url, token):
    from scim2_tester import Status, check_server

    failing = (Status.ERROR, Status.CRITICAL)
    results = check_server(client(base_url, token), resource_types=["User"])
    per_check = defaultdict(Counter)
    for r in results:
        name = f"{r.resource_type}/{r.title}" if r.resource_type else str(r.title)
        per_check[name][r.status.name] += 1
    for name, counts in per_check.items():
        verdict = "FAIL" if any(counts[s.name] for s in failing) else "ok"
        print(f"{verdict:<4} {name:<50} " + " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    failures = [r for r in results if r.status in failing]
    for r in failures:
        print(f"\n{r.status.name} {r.resource_type or ''}/{r.title}: {r.reason}")
        if r.data is not None:
            print(f"    data: {str(r.data)[:800]}")
    skipped = sum(r.status == Status.SKIPPED for r in results)
    print(f"\nscim2-tester: {len(results) - len(failures) - skipped} passed, {len(failures)} failed, {skipped} skipped")
    if not results:
        print("scim2-tester: no check ran", file=sys.stderr)
        return 1
    return 1 if failures else 0


def find(scim, User, user_name):
    from scim2_models import SearchRequest

    page = scim.query(User, query_parameters=SearchRequest(filter=f'userName eq "{user_name}"', count=10))
    found = page.resources or []
    if page.total_results != 1 or len(found) != 1:
        raise SystemExit(f"expected one user named {user_name}, found {page.total_results}")
    return found[0]


def deactivate(scim, User, user_id):
    from scim2_models import PatchOp, PatchOperation

    patched = scim.modify(User, user_id, PatchOp[User](operations=[
        PatchOperation(op=PatchOperation.Op.replace_, path="active", value=False),
    ]))
    if patched is not None and patched.active is not False:
        raise SystemExit("the user is still active after PATCH active=false")


def lifecycle(base_url, token, user_name, external_id):
    from scim2_models import PatchOp, PatchOperation

    scim = client(base_url, token)
    scim.discover()
    User = scim.get_resource_model("User")
    created = scim.create(User(user_name=user_name, external_id=external_id, display_name="New Hire", active=True))
    assert created.id and created.active is True, created
    found = find(scim, User, user_name.upper())  # userName is not case-exact
    assert found.id == created.id, (found.id, created.id)
    found.display_name = "Renamed"
    replaced = scim.replace(found)
    assert replaced.display_name == "Renamed", replaced
    patched = scim.modify(User, created.id, PatchOp[User](operations=[
        PatchOperation(op=PatchOperation.Op.replace_, path="displayName", value="Patched"),
    ]))
    assert patched is None or patched.display_name == "Patched", patched
    deactivate(scim, User, created.id)
    assert scim.query(User, created.id).active is False
    print(created.id)
    return 0


def deprovision(base_url, token, user_name):
    scim = client(base_url, token)
    scim.discover()
    User = scim.get_resource_model("User")
    user = find(scim, User, user_name)
    deactivate(scim, User, user.id)
    print(user.id)
    return 0


def main(argv):
    commands = {"compliance": (compliance, 2), "lifecycle": (lifecycle, 4), "deprovision": (deprovision, 3)}
    if len(argv) < 2 or argv[1] not in commands or len(argv) - 2 != commands[argv[1]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    command, _ = commands[argv[1]]
    return command(*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
