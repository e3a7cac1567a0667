"""The ERP embedding flow of examples/c/erp_demo.c, from Python through ctypes.

Run from the repository root after `cargo build -p crm-ffi`:

    python3 examples/python/erp_demo.py [DB_PATH]

Set CRM_LIBRARY to use a libcrm other than target/{release,debug}/libcrm.so.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import crm  # noqa: E402  (the wrapper beside this file)


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else "erp-demo-py.db"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    print(crm.version())

    with crm.Database(path, durability="full") as db, db.system("ERP setup wizard") as admin:
        # Set up the organisation.
        sales = admin.create_department("Sales")
        maria = admin.create_user("Maria Lopez", "maria@erp.example", sales["id"])
        grants = [
            {"entity": "client", "action": "read", "level": "department"},
            {"entity": "client", "action": "create", "level": "own"},
            {"entity": "client", "action": "update", "level": "own"},
        ]
        role = admin.create_role("Sales manager", grants)
        admin.assign_role(role["id"], {"kind": "user", "user_id": maria["id"]})
        print(f"department {sales['id']}, user {maria['id']}, role {role['id']}")

        # Status codes arrive as exceptions that carry the engine's message.
        try:
            admin.create_user("Maria again", "MARIA@erp.example", sales["id"])
            raise SystemExit("a duplicate e-mail was accepted")
        except crm.ValidationError as e:
            print(f"as expected, refused: {e.message}")

        # Act as the sales manager.
        with db.as_user(maria["id"]) as manager:
            org = manager.create_client({
                "kind": "organization",
                "name": "Nordwind Handels GmbH",
                "tax_id": "DE 811 234 567",
                "emails": [{"address": "info@nordwind.example"}],
                "addresses": [{"kind": "legal", "street": "Hafenstr. 1", "city": "Hamburg",
                               "postal_code": "20457", "country": "DE"}],
            })
            person = manager.create_client({
                "kind": "person",
                "name": "Jonas Weber",
                "phones": [{"kind": "mobile", "number": "+49 170 1234567"}],
            })
            manager.link_contact(org["id"], person["id"], "Head of purchasing")
            print("contacts:", manager.contacts(org["id"]))

            hits = manager.search_clients("nordwind")
            assert [c["name"] for c in hits["items"]] == ["Nordwind Handels GmbH"], hits
            print("search 'nordwind':", [c["name"] for c in hits["items"]])

            page = manager.list_clients(limit=50)
            print("first page:", [c["name"] for c in page["items"]], "next:", page["next"])

            try:
                manager.update_client(org["id"], org["version"] + 7, {"name": "Stale"})
            except crm.Conflict as e:
                print(f"as expected, a stale update is a conflict: {e.message}")
            try:
                manager.client(999_999)
            except crm.NotFound as e:
                print(f"as expected: {e.name}: {e.message}")

        report = admin.verify_audit()
        print("audit log:", report)
        return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
