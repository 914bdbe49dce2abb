#!/usr/bin/python3
"""Runs a command under the system-call restrictions a systemd unit declares, without systemd.

    unit_seccomp.py <unit file> <command> [args...]

Reads the unit's SystemCallFilter= lines (in order: an allow list, then ~deny lists that remove
from it; an empty assignment resets), SystemCallErrorNumber= (the action for everything else;
without it, the process is killed, as systemd does) and RestrictAddressFamilies= (an allow list
of socket families), expands the @groups with `systemd-analyze syscall-filter`, loads the
equivalent seccomp filter with libseccomp, sets no_new_privs (NoNewPrivileges=) and execs the
command. Exit 77 when libseccomp or systemd-analyze is missing, so that a test can skip.
"""

import ctypes
import ctypes.util
import errno
import os
import socket
import subprocess
import sys

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
PR_SET_NO_NEW_PRIVS = 38


def scmp_act_errno(code):
    return 0x00050000 | (code & 0xFFFF)


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def unit_settings(path):
    """The [Service] assignments of a unit file, as (key, value) pairs in order."""
    settings, section = [], None
    with open(path, encoding="utf-8") as unit:
        for raw in unit:
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                settings.append((key.strip(), value.strip()))
    return settings


def expand(names, seen=None):
    """System-call names for a list of names and @groups (recursively)."""
    seen = set() if seen is None else seen
    calls = set()
    for name in names:
        if not name.startswith("@"):
            calls.add(name)
            continue
        if name in seen:
            continue
        seen.add(name)
        listing = subprocess.run(["systemd-analyze", "syscall-filter", name], check=True,
                                 capture_output=True, text=True).stdout
        members = [line.strip() for line in listing.splitlines()[1:]
                   if line.strip() and not line.strip().startswith("#")]
        calls |= expand(members, seen)
    return calls


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    unit, command = sys.argv[1], sys.argv[2:]
    library = ctypes.util.find_library("seccomp")
    if library is None:
        print("unit_seccomp: libseccomp is not installed", file=sys.stderr)
        return 77
    try:
        subprocess.run(["systemd-analyze", "--version"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        print("unit_seccomp: systemd-analyze is not installed", file=sys.stderr)
        return 77

    allowed, default_action, families = None, SCMP_ACT_KILL_PROCESS, None
    for key, value in unit_settings(unit):
        if key == "SystemCallFilter":
            if not value:
                allowed = None
            elif value.startswith("~"):
                if allowed is None:
                    raise SystemExit("unit_seccomp: deny-list-only filters are not emulated")
                allowed -= expand(value[1:].split())
            else:
                allowed = (allowed or set()) | expand(value.split())
        elif key == "SystemCallErrorNumber":
            default_action = scmp_act_errno(getattr(errno, value))
        elif key == "RestrictAddressFamilies":
            families = [getattr(socket, name) for name in value.split()] if value else None
    if allowed is None:
        raise SystemExit("unit_seccomp: the unit has no SystemCallFilter allow list")

    seccomp = ctypes.CDLL(library, use_errno=True)
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(ArgCmp)]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    context = seccomp.seccomp_init(default_action)
    for name in sorted(allowed):
        number = seccomp.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            continue  # not a system call of this architecture
        if name == "socket" and families is not None:
            for family in families:
                condition = (ArgCmp * 1)(ArgCmp(0, SCMP_CMP_EQ, family, 0))
                seccomp.seccomp_rule_add_array(context, SCMP_ACT_ALLOW, number, 1, condition)
            continue
        if seccomp.seccomp_rule_add_array(context, SCMP_ACT_ALLOW, number, 0, None) != 0:
            raise SystemExit(f"unit_seccomp: cannot allow {name}")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise SystemExit("unit_seccomp: prctl(PR_SET_NO_NEW_PRIVS) failed")
    if seccomp.seccomp_load(context) != 0:
        raise SystemExit("unit_seccomp: seccomp_load failed")
    os.execvp(command[0], command)
    return 127


if __name__ == "__main__":
    sys.exit(main())
