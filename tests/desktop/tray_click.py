#!/usr/bin/python3
"""Drives an app's tray menu over D-Bus, with no real tray host.

Owns org.kde.StatusNotifierWatcher on the session bus (start it BEFORE the
app), waits for the app's StatusNotifierItem to register, reads its
com.canonical.dbusmenu menu and clicks items by label. Line protocol on
stdin/stdout, one JSON object per output line:

    out: {"event": "watching"}                       the watcher name is owned
    out: {"event": "registered", "service": ..., "path": ..., "menu": ...}
    in:  layout                 out: {"event": "layout", "items": [{"id", "label", "enabled", "visible", "type"}...]}
    in:  click LABEL            out: {"event": "clicked", "id": N, "label": LABEL}
                                  or {"event": "error", "error": "..."}
    in:  EOF                    exits 0

    tray_click.py [--timeout SECONDS]    (registration timeout, default 60)

Needs python3-dbus-next (apt) and a session bus.
"""

import asyncio
import json
import sys
import time

from dbus_next import BusType, Message, MessageType, Variant
from dbus_next.aio import MessageBus
from dbus_next.constants import NameFlag, PropertyAccess, RequestNameReply
from dbus_next.service import ServiceInterface, dbus_property, method, signal

WATCHER = "org.kde.StatusNotifierWatcher"


def say(**obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Watcher(ServiceInterface):
    def __init__(self):
        super().__init__(WATCHER)
        self.items = []

    @method()
    def RegisterStatusNotifierItem(self, service: "s"):
        pass

    @method()
    def RegisterStatusNotifierHost(self, service: "s"):
        pass

    @dbus_property(access=PropertyAccess.READ)
    def RegisteredStatusNotifierItems(self) -> "as":
        return self.items

    @dbus_property(access=PropertyAccess.READ)
    def IsStatusNotifierHostRegistered(self) -> "b":
        return True

    @dbus_property(access=PropertyAccess.READ)
    def ProtocolVersion(self) -> "i":
        return 0

    @signal()
    def StatusNotifierItemRegistered(self, service) -> "s":
        return service

    @signal()
    def StatusNotifierItemUnregistered(self, service) -> "s":
        return service

    @signal()
    def StatusNotifierHostRegistered(self):
        pass


def unwrap(v):
    return v.value if isinstance(v, Variant) else v


def flatten(node, out):
    """Walks a dbusmenu layout (id, props, children) depth first."""
    item_id, props, children = node
    props = {k: unwrap(v) for k, v in props.items()}
    if item_id != 0:
        out.append({
            "id": item_id,
            "label": props.get("label", ""),
            "enabled": props.get("enabled", True),
            "visible": props.get("visible", True),
            "type": props.get("type", "standard"),
        })
    for child in children:
        flatten(unwrap(child), out)
    return out


async def main(timeout):
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    watcher = Watcher()
    registered = asyncio.get_running_loop().create_future()

    def on_message(msg):
        if (msg.message_type == MessageType.METHOD_CALL and msg.member == "RegisterStatusNotifierItem"
                and msg.interface == WATCHER and not registered.done()):
            arg = msg.body[0]
            # A path means "this object on the sender's connection"; a bus name means
            # the item lives at the default path on that name.
            if arg.startswith("/"):
                registered.set_result((msg.sender, arg))
            else:
                registered.set_result((arg, "/StatusNotifierItem"))
            watcher.items.append(f"{msg.sender}{arg}" if arg.startswith("/") else arg)
        return None

    bus.add_message_handler(on_message)
    bus.export("/StatusNotifierWatcher", watcher)
    reply = await bus.request_name(WATCHER, NameFlag.DO_NOT_QUEUE)
    if reply != RequestNameReply.PRIMARY_OWNER:
        say(event="error", error=f"could not own {WATCHER}: {reply}")
        return 1
    say(event="watching")

    try:
        service, path = await asyncio.wait_for(registered, timeout)
    except asyncio.TimeoutError:
        say(event="error", error=f"no StatusNotifierItem registered within {timeout}s")
        return 1
    watcher.StatusNotifierItemRegistered(service + path)

    # The item's Menu property: the dbusmenu object path on the same connection.
    reply = await bus.call(Message(destination=service, path=path, interface="org.freedesktop.DBus.Properties",
                                   member="Get", signature="ss", body=["org.kde.StatusNotifierItem", "Menu"]))
    if reply.message_type == MessageType.ERROR:
        say(event="error", error=f"reading the item's Menu property failed: {reply.error_name} {reply.body}")
        return 1
    menu_path = unwrap(reply.body[0])
    say(event="registered", service=service, path=path, menu=menu_path)

    async def layout():
        r = await bus.call(Message(destination=service, path=menu_path, interface="com.canonical.dbusmenu",
                                   member="GetLayout", signature="iias", body=[0, -1, []]))
        if r.message_type == MessageType.ERROR:
            raise RuntimeError(f"GetLayout failed: {r.error_name} {r.body}")
        return flatten(r.body[1], [])

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        cmd = line.decode().strip()
        try:
            if cmd == "layout":
                say(event="layout", items=await layout())
            elif cmd.startswith("click "):
                label = cmd[len("click "):]
                matches = [i for i in await layout() if i["label"] == label]
                if not matches:
                    say(event="error", error=f"no menu item labelled {label!r}")
                    continue
                item = matches[0]
                r = await bus.call(Message(destination=service, path=menu_path, interface="com.canonical.dbusmenu",
                                           member="Event", signature="isvu",
                                           body=[item["id"], "clicked", Variant("s", ""), int(time.time()) & 0xFFFFFFFF]))
                if r.message_type == MessageType.ERROR:
                    say(event="error", error=f"Event failed: {r.error_name} {r.body}")
                else:
                    say(event="clicked", id=item["id"], label=label)
            elif cmd:
                say(event="error", error=f"unknown command {cmd!r}")
        except Exception as e:  # report and keep serving: the test decides
            say(event="error", error=str(e))
    bus.disconnect()
    return 0


if __name__ == "__main__":
    t = 60.0
    if len(sys.argv) == 3 and sys.argv[1] == "--timeout":
        t = float(sys.argv[2])
    elif len(sys.argv) != 1:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(t)))
