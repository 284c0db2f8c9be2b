#!/usr/bin/python3
"""Finds an app's top-level X11 windows and closes them the way a window
manager's close button does (a WM_DELETE_WINDOW client message), with no
window manager and no extra packages: libX11 through ctypes (GTK already
pulls libX11 in).

    x11_window.py list PID           one line per top-level window of PID:
                                     "<xid> <viewable|unmapped> <title>"
    x11_window.py close PID [TITLE]  send WM_DELETE_WINDOW to PID's viewable
                                     top-level windows (only those titled TITLE)

Exit status 0 if a window was found (and, for close, the message was sent),
1 if none, 2 on usage or X errors. Uses $DISPLAY.
"""

import ctypes
import ctypes.util
import sys

x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")

Window = ctypes.c_ulong
Atom = ctypes.c_ulong


class XClientMessageEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", Window), ("message_type", Atom),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", XClientMessageEvent), ("pad", ctypes.c_long * 24)]


class XWindowAttributes(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int), ("width", ctypes.c_int), ("height", ctypes.c_int),
                ("border_width", ctypes.c_int), ("depth", ctypes.c_int), ("visual", ctypes.c_void_p),
                ("root", Window), ("c_class", ctypes.c_int), ("bit_gravity", ctypes.c_int),
                ("win_gravity", ctypes.c_int), ("backing_store", ctypes.c_int),
                ("backing_planes", ctypes.c_ulong), ("backing_pixel", ctypes.c_ulong),
                ("save_under", ctypes.c_int), ("colormap", ctypes.c_ulong),
                ("map_installed", ctypes.c_int), ("map_state", ctypes.c_int),
                ("all_event_masks", ctypes.c_long), ("your_event_mask", ctypes.c_long),
                ("do_not_propagate_mask", ctypes.c_long), ("override_redirect", ctypes.c_int),
                ("screen", ctypes.c_void_p)]


x11.XOpenDisplay.restype = ctypes.c_void_p
x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
x11.XDefaultRootWindow.restype = Window
x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
x11.XInternAtom.restype = Atom
x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
x11.XQueryTree.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(Window), ctypes.POINTER(Window),
                           ctypes.POINTER(ctypes.POINTER(Window)), ctypes.POINTER(ctypes.c_uint)]
x11.XFetchName.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(ctypes.c_char_p)]
x11.XGetWindowProperty.argtypes = [ctypes.c_void_p, Window, Atom, ctypes.c_long, ctypes.c_long, ctypes.c_int,
                                   Atom, ctypes.POINTER(Atom), ctypes.POINTER(ctypes.c_int),
                                   ctypes.POINTER(ctypes.c_ulong), ctypes.POINTER(ctypes.c_ulong),
                                   ctypes.POINTER(ctypes.c_void_p)]
x11.XGetWindowAttributes.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(XWindowAttributes)]
x11.XSendEvent.argtypes = [ctypes.c_void_p, Window, ctypes.c_int, ctypes.c_long, ctypes.POINTER(XEvent)]
x11.XFree.argtypes = [ctypes.c_void_p]
x11.XFlush.argtypes = [ctypes.c_void_p]
x11.XSync.argtypes = [ctypes.c_void_p, ctypes.c_int]
x11.XCloseDisplay.argtypes = [ctypes.c_void_p]

XA_CARDINAL = 6
CLIENT_MESSAGE = 33
IS_VIEWABLE = 2


def children(dpy, win):
    root, parent = Window(), Window()
    kids = ctypes.POINTER(Window)()
    n = ctypes.c_uint()
    if not x11.XQueryTree(dpy, win, ctypes.byref(root), ctypes.byref(parent), ctypes.byref(kids), ctypes.byref(n)):
        return []
    out = [kids[i] for i in range(n.value)]
    if kids:
        x11.XFree(kids)
    return out


def window_pid(dpy, win, pid_atom):
    actual, fmt = Atom(), ctypes.c_int()
    nitems, after = ctypes.c_ulong(), ctypes.c_ulong()
    data = ctypes.c_void_p()
    ok = x11.XGetWindowProperty(dpy, win, pid_atom, 0, 1, 0, XA_CARDINAL, ctypes.byref(actual), ctypes.byref(fmt),
                                ctypes.byref(nitems), ctypes.byref(after), ctypes.byref(data))
    if ok != 0 or not data.value:
        return None
    pid = ctypes.cast(data, ctypes.POINTER(ctypes.c_ulong))[0] if nitems.value else None
    x11.XFree(data)
    return pid


def title(dpy, win):
    name = ctypes.c_char_p()
    if x11.XFetchName(dpy, win, ctypes.byref(name)) and name.value is not None:
        return name.value.decode(errors="replace")
    return ""


def viewable(dpy, win):
    attrs = XWindowAttributes()
    if not x11.XGetWindowAttributes(dpy, win, ctypes.byref(attrs)):
        return False
    return attrs.map_state == IS_VIEWABLE


def toplevels(dpy, pid):
    """Windows with _NET_WM_PID == pid, searched two levels deep (no WM: direct children of root)."""
    pid_atom = x11.XInternAtom(dpy, b"_NET_WM_PID", 0)
    root = x11.XDefaultRootWindow(dpy)
    found = []
    for w in children(dpy, root):
        for cand in [w] + children(dpy, w):
            if window_pid(dpy, cand, pid_atom) == pid:
                found.append(cand)
    return found


def main(argv):
    if len(argv) < 3 or argv[1] not in ("list", "close"):
        print(__doc__, file=sys.stderr)
        return 2
    pid = int(argv[2])
    want_title = argv[3] if len(argv) > 3 else None
    dpy = x11.XOpenDisplay(None)
    if not dpy:
        print("x11_window: cannot open $DISPLAY", file=sys.stderr)
        return 2
    try:
        wins = toplevels(dpy, pid)
        if argv[1] == "list":
            for w in wins:
                print(f"0x{w:x} {'viewable' if viewable(dpy, w) else 'unmapped'} {title(dpy, w)}")
            return 0 if wins else 1
        protocols = x11.XInternAtom(dpy, b"WM_PROTOCOLS", 0)
        delete = x11.XInternAtom(dpy, b"WM_DELETE_WINDOW", 0)
        sent = 0
        for w in wins:
            if not viewable(dpy, w) or (want_title is not None and title(dpy, w) != want_title):
                continue
            ev = XEvent()
            ev.xclient.type = CLIENT_MESSAGE
            ev.xclient.window = w
            ev.xclient.message_type = protocols
            ev.xclient.format = 32
            ev.xclient.data[0] = delete
            ev.xclient.data[1] = 0  # CurrentTime
            x11.XSendEvent(dpy, w, 0, 0, ctypes.byref(ev))
            sent += 1
        x11.XSync(dpy, 0)
        print(f"x11_window: sent WM_DELETE_WINDOW to {sent} window(s)")
        return 0 if sent else 1
    finally:
        x11.XCloseDisplay(dpy)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
