"""The ERP embedding flow of examples/c/erp_demo.c, from Python through ctypes.

Run from the repository root after `cargo build -p crm-ffi`:

    python3 examples/python/erp_demo.py [DB_PATH]

Set CRM_LIBRARY to use a libcrm other than target/{release,debug}/libcrm.so. Set
CRM_PLUGIN_DIR to a plugin directory holding the hello connector (examples/plugins/hello, installed
with `crm-plugin-runner package`) to see it called and fed events through the plugin host.
"""

import os
import sys
import tempfile
import time
from datetime import date

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
            {"entity": "deal", "action": "read", "level": "department"},
            {"entity": "deal", "action": "create", "level": "own"},
            {"entity": "deal", "action": "update", "level": "own"},
            {"entity": "deal", "action": "change_stage", "level": "own"},
        ]
        role = admin.create_role("Sales manager", grants)
        admin.assign_role(role["id"], {"kind": "user", "user_id": maria["id"]})
        print(f"department {sales['id']}, user {maria['id']}, role {role['id']}")
        pipeline = admin.create_pipeline("Sales", [
            {"name": "Lead", "probability": 10},
            {"name": "Offer", "probability": 50, "rotting_days": 14},
            {"name": "Won", "probability": 100, "kind": "won"},
            {"name": "Lost", "probability": 0, "kind": "lost"},
        ])
        stage = {s["name"]: s["id"] for s in pipeline["stages"]}
        print(f"pipeline {pipeline['id']}: {' > '.join(stage)}")

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

            # A deal for the organisation, moved on to the offer stage.
            today = date.today()
            deal = manager.create_deal({
                "title": "Nordwind: 40 licences",
                "pipeline_id": pipeline["id"],
                "client_id": org["id"],
                "contact_id": person["id"],
                "currency": "EUR",
                "amount_minor": 4_800_000,
                "expected_close_date": date(today.year + 1, 3, 31).isoformat(),
            })
            deal = manager.move_deal(deal["id"], deal["version"], stage["Offer"])
            print(f"deal {deal['id']} in stage {deal['stage_id']}, probability {deal['probability']}%")
            history = manager.deal_history(deal["id"])
            assert [e["to_stage_id"] for e in history] == [stage["Lead"], stage["Offer"]], history

            # The head of sales' question: what is in the funnel?
            report = manager.funnel_report(pipeline["id"], date(today.year, 1, 1).isoformat(),
                                           date(today.year + 1, 1, 1).isoformat(), grouping="quarter")
            for s in report["stages"]:
                amounts = ", ".join(f"{m['amount_minor'] / 100:.2f} {m['currency']}"
                                    for m in s["open"]["amounts"]) or "-"
                print(f"  {s['name']:<6} {s['open']['count']} open  {amounts}")
            offer = next(s for s in report["stages"] if s["name"] == "Offer")
            assert offer["open"]["count"] == 1, report["stages"]
            svg = manager.funnel_report_svg(pipeline["id"], date(today.year, 1, 1).isoformat(),
                                            date(today.year + 1, 1, 1).isoformat())
            assert svg.lstrip().startswith("<svg") or "<svg" in svg[:200], svg[:200]
            print(f"funnel chart: {len(svg)} bytes of SVG")

        # Connectors (ABI 1.2): without a plugin directory, loading is off.
        with db.plugins() as off:
            try:
                off.list()
                raise AssertionError("a host without plugin_dir listed plugins")
            except crm.PluginsDisabled as e:
                print(f"plugins off: {e.name}")
        plugin_dir = os.environ.get("CRM_PLUGIN_DIR")
        if plugin_dir:
            run_hello(db, plugin_dir, maria["id"])

        # Hand the clients to the accounting system as CSV (written whole or not at all).
        with tempfile.TemporaryDirectory() as tmp:
            n = admin.export_file({"records": "clients"}, os.path.join(tmp, "clients.csv"))
            print(f"exported {n} clients")

        report = admin.verify_audit()
        print("audit log:", report)
        return 0 if report["ok"] else 1


def run_hello(db: "crm.Database", plugin_dir: str, user_id: int) -> None:
    """The hello connector acting as `user_id`: a call, its CRM identity, the client.create
    events of the outbox delivered to it, a refused call, then disabled."""
    with db.plugins(plugin_dir=plugin_dir, poll_interval_ms=20) as plugins:
        listed = {p["id"]: p for p in plugins.list()}
        assert listed["hello"]["valid"], listed["hello"]
        status = plugins.enable("hello", user_id=user_id)
        print(f"plugin {status['name']} {status['version']} enabled ({status['mode']})")
        print("hello says:", plugins.call("hello", "hello")["greeting"])
        assert plugins.call("hello", "whoami") == {"user_id": user_id}
        try:
            plugins.call("hello", "no_such_method")
            raise AssertionError("an unknown method succeeded")
        except crm.PluginCallError as e:
            print(f"refused: {e.name}: {e.message}")
        deadline = time.monotonic() + 30
        while True:
            plugins.notify()
            delivery = plugins.status("hello")["delivery"]
            if delivery["cursor"] >= delivery["head"] > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        seen = plugins.call("hello", "events_seen")["events"]
        assert seen >= 1 and delivery["failures"] == 0, delivery
        print(f"hello received {seen} client.create events (cursor {delivery['cursor']})")
        plugins.disable("hello")


if __name__ == "__main__":
    sys.exit(main())
