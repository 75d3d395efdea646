"""The kernel client that is ready at the kernel_info round trip: IOPub really is connected then, and a dead kernel is said."""

from __future__ import annotations

import asyncio
from queue import Empty

import pytest

from autograder.isolation.readyclient import ReadyClient
from autograder.isolation.sandboxkernel import PlainKernelManager


async def _started() -> tuple[PlainKernelManager, ReadyClient]:
    manager = PlainKernelManager(kernel_name="python3")
    await manager.start_kernel()
    client = manager.client()
    assert isinstance(client, ReadyClient)
    client.start_channels()
    return manager, client


async def _stop(manager: PlainKernelManager, client: ReadyClient) -> None:
    client.stop_channels()
    if await manager.is_alive():
        await manager.shutdown_kernel(now=True)
    await manager.cleanup_resources()


async def _output_of_first_request(code: str) -> str:
    manager, client = await _started()
    try:
        await client.wait_for_ready(timeout=60)
        msg_id = client.execute(code)
        text = ""
        while True:  # nothing is lost between ready and the first request: its output and its idle both arrive
            msg = await client.get_iopub_msg(timeout=30)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                text += msg["content"]["text"]
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return text
    finally:
        await _stop(manager, client)


async def _ready_after_death() -> None:
    manager, client = await _started()
    try:
        await manager.shutdown_kernel(now=True, restart=True)  # dead before it could answer anything
        await client.wait_for_ready(timeout=30)
    finally:
        await _stop(manager, client)


def test_once_ready_the_first_requests_output_arrives():
    assert asyncio.run(_output_of_first_request("print('hola')")) == "hola\n"


def test_a_kernel_dead_before_answering_is_an_error_not_a_wait():
    with pytest.raises(RuntimeError, match="died"):
        asyncio.run(_ready_after_death())


def test_nothing_the_kernel_said_at_start_is_left_for_the_first_request():
    """What IOPub carried before readiness (start-up statuses, the welcome) is drained up to the kernel_info's idle."""

    async def leftovers() -> list[str]:
        manager, client = await _started()
        try:
            await client.wait_for_ready(timeout=60)
            seen = []
            while True:
                try:
                    msg = await client.get_iopub_msg(timeout=0.5)
                except Empty:
                    return seen
                if msg["parent_header"].get("msg_type") != "kernel_info_request":
                    seen.append(msg["msg_type"])
        finally:
            await _stop(manager, client)

    assert asyncio.run(leftovers()) == []


def test_the_managers_ready_future_resolves_after_start_and_after_shutdown_without_jupyter_clients_sleep():
    """PlainKernelManager keeps jupyter_client's `ready` future: resolved once a start or a stop is over."""

    async def states() -> list[bool]:
        manager = PlainKernelManager(kernel_name="python3")
        await manager.start_kernel()
        seen = [await manager.is_alive(), manager.ready.done() and manager.ready.exception() is None]
        await manager.shutdown_kernel(now=True)
        seen.append(manager.ready.done() and manager.ready.exception() is None)
        seen.append(await manager.is_alive())
        return seen

    assert asyncio.run(states()) == [True, True, True, False]
