#!/usr/bin/python3
"""A fake desktop notification server for the desktop tests.

Owns org.freedesktop.Notifications on the session bus and appends every
Notify call to a file as one JSON line:

    {"id": 1, "app": "Nightjar", "summary": "Backup failed", "body": "...",
     "icon": "", "actions": [], "hints": {"urgency": 2}, "timeout": -1}

    fake_notifyd.py OUT.jsonl

Prints "fake_notifyd: ready" on stdout once the name is owned. Needs only
python3-dbus-next (apt) and a session bus; no X server.
"""

import asyncio
import json
import signal
import sys

from dbus_next import BusType, Variant
from dbus_next.aio import MessageBus
from dbus_next.constants import NameFlag, RequestNameReply
from dbus_next.service import ServiceInterface, method, signal as dbus_signal

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"


def plain(value):
    """Hint values as JSON: Variants unwrapped, bytes summarised."""
    if isinstance(value, Variant):
        value = value.value
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


class Notifications(ServiceInterface):
    def __init__(self, out):
        super().__init__(NAME)
        self.out = out
        self.next_id = 0

    @method()
    def Notify(self, app: "s", replaces: "u", icon: "s", summary: "s", body: "s",
               actions: "as", hints: "a{sv}", timeout: "i") -> "u":
        self.next_id += 1
        nid = replaces or self.next_id
        record = {"id": nid, "app": app, "summary": summary, "body": body, "icon": icon,
                  "actions": list(actions), "hints": plain(hints), "timeout": timeout}
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()
        return nid

    @method()
    def GetCapabilities(self) -> "as":
        return ["body", "actions"]

    @method()
    def GetServerInformation(self) -> "ssss":
        return ["fake_notifyd", "nightjar-tests", "1.0", "1.2"]

    @method()
    def CloseNotification(self, nid: "u"):
        self.NotificationClosed(nid, 3)

    @dbus_signal()
    def NotificationClosed(self, nid, reason) -> "uu":
        return [nid, reason]

    @dbus_signal()
    def ActionInvoked(self, nid, key) -> "us":
        return [nid, key]


async def main(path):
    with open(path, "a", encoding="utf-8") as out:
        bus = await MessageBus(bus_type=BusType.SESSION).connect()
        bus.export(PATH, Notifications(out))
        reply = await bus.request_name(NAME, NameFlag.DO_NOT_QUEUE)
        if reply != RequestNameReply.PRIMARY_OWNER:
            print(f"fake_notifyd: could not own {NAME} ({reply})", file=sys.stderr, flush=True)
            return 1
        print("fake_notifyd: ready", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        bus.disconnect()
        return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1])))
