"""socket.io messages between the Rasa processes of one machine (bot.workers), with no server to run.

A widget's socket.io session lives in one Rasa process (HAProxy keeps each client on its process). A
message for that session can start in another one: a staff reply from the console (bot/staff/handoff.py)
is sent by whichever process received the staff request. python-socketio solves this with a pub/sub
client manager (its Redis one needs a Redis server); this one passes the messages as datagrams over Unix
sockets in a folder private to the run: each process binds `<folder>/<id>.sock`, and an emit is handled
in its own process and sent to every other socket there, whose process delivers it to its own clients.

bot.workers sets SOCKETIO_BUS_ENV for its Rasa processes; with REDIS_URL (Rasa servers on several machines)
python-socketio's own Redis manager is used instead (`attach_redis`); a single Rasa process keeps
python-socketio's default in-process manager.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from pathlib import Path
from typing import Any, AsyncIterator

from socketio.async_pubsub_manager import AsyncPubSubManager

logger = logging.getLogger(__name__)

SOCKETIO_BUS_ENV = "EXOBOT_SOCKETIO_BUS"
MAX_DATAGRAM = 200_000  # bytes; Linux's default socket buffer (212992) bounds one datagram


class UnixSocketBus(AsyncPubSubManager):
    """python-socketio's pub/sub client manager over Unix datagram sockets in one folder."""

    name = "exobot-unix-bus"

    def __init__(self, folder: Path) -> None:
        """Use the sockets in `folder` (created 0700 if missing)."""
        super().__init__(channel="socketio")
        self.folder = Path(folder)
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = self.folder / f"{os.getpid()}-{self.host_id[:8]}.sock"
        self.sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sender.setblocking(False)

    async def _publish(self, data: Any) -> None:
        """Send the message to every other process's socket (a missing or dead one is skipped)."""
        body = self.json.dumps(data).encode("utf-8")
        if len(body) > MAX_DATAGRAM:
            logger.error("socket.io message of %d bytes is too large for the process bus; not sent", len(body))
            return
        for peer in self.folder.glob("*.sock"):
            if peer == self.path:
                continue
            try:
                self.sender.sendto(body, str(peer))
            except (ConnectionRefusedError, FileNotFoundError):
                continue  # a process that stopped; its socket file goes with the run's folder
            except BlockingIOError:
                logger.warning("socket.io process bus: %s is not reading; a message was dropped", peer.name)

    async def _listen(self) -> AsyncIterator[bytes]:
        """Messages from the other processes, as they arrive."""
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        receiver.bind(str(self.path))
        receiver.setblocking(False)
        loop = asyncio.get_running_loop()
        try:
            while True:
                yield await loop.sock_recv(receiver, MAX_DATAGRAM + 1)
        finally:
            receiver.close()
            self.path.unlink(missing_ok=True)


def attach_bus(sio: Any, folder: Path) -> UnixSocketBus:
    """Give a python-socketio AsyncServer the bus as its client manager, listening at once (a process
    that never had a client of its own must still pass on what others send)."""
    bus = UnixSocketBus(folder)
    bus.set_server(sio)
    sio.manager = bus
    sio.manager_initialized = False
    return bus


def attach_redis(sio: Any, url: str, prefix: str) -> Any:
    """Give the server python-socketio's Redis client manager (REDIS_URL: several Rasa servers, possibly on
    several machines, share the lock store's Redis), on the channel `<prefix>:socketio`."""
    from socketio.async_redis_manager import AsyncRedisManager

    manager = AsyncRedisManager(url, channel=f"{prefix}:socketio")
    manager.set_server(sio)
    sio.manager = manager
    sio.manager_initialized = False
    return manager


def start_listening(sio: Any) -> None:
    """Initialise the server's client manager now rather than at its first client (python-socketio's way)."""
    if not sio.manager_initialized:
        sio.manager_initialized = True
        sio.manager.initialize()
