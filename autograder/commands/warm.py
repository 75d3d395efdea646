"""`autograder warm`: keep warm processes between commands, so each `grade` skips the imports and torch's; or stop them."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from autograder.commands.warmprotocol import COMMAND_SERVER, server_name
from autograder.isolation import warmsession
from autograder.isolation.warmsession import DEFAULT_IDLE_S, ZYGOTE, WarmProcess, WarmSessionError
from autograder.isolation.zygote import MODULE as KERNEL_SERVER
from autograder.isolation.zygote import START_TIMEOUT, Zygote, kept_warm_place


@dataclass(frozen=True)
class WarmStarted:
    """The kept-warm kernel process and command server, whether this call started either, and how long that took."""

    kernels: WarmProcess
    commands: WarmProcess
    started: bool
    seconds: float


def keep_warm(idle: float = DEFAULT_IDLE_S) -> WarmStarted:
    """Start the kept-warm processes for this code, machine and environment, unless they run; they exit after `idle` s unused.

    One `warm` at a time starts them (the session folder's lock): two at once would start two of each.
    """
    warmsession.check_idle(idle)
    if not Zygote.available():
        raise WarmSessionError.cannot_confine()
    began = time.monotonic()
    folder, kernel_environment = kept_warm_place()
    warmsession.prepare_folder(folder)
    caller = dict(os.environ)
    with warmsession.locked(folder):
        kernels = warmsession.find(folder, ZYGOTE)
        commands = warmsession.find(folder, server_name(caller))
        started = kernels is None or commands is None
        if kernels is None:
            kernels = warmsession.launch(folder, ZYGOTE, KERNEL_SERVER, kernel_environment, idle, START_TIMEOUT)
        if commands is None:  # it imports what `grade` does, under the caller's environment (what a later caller must share)
            commands = warmsession.launch(folder, server_name(caller), COMMAND_SERVER, caller, idle, START_TIMEOUT)
    warmsession.sweep(folder.parent, keep=folder)
    return WarmStarted(kernels, commands, started, time.monotonic() - began if started else 0.0)


def stop_warm() -> list[int]:
    """Stop every kept-warm process on this machine (any code version or environment); their pids."""
    return warmsession.stop(warmsession.warm_root())
