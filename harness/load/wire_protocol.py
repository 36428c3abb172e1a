"""The bytes of the lean client's wire: Engine.IO v4 and Socket.IO v5 packet type codes,
WebSocket opcodes, and client frames (masked, as RFC 6455 requires of a client).

`wire.LeanSocket` speaks it over a connection; this module holds no socket.
"""

from __future__ import annotations

import os
import struct

__all__ = [
    "EIO_CLOSE",
    "EIO_MESSAGE",
    "EIO_OPEN",
    "EIO_PING",
    "EIO_PONG",
    "OP_CLOSE",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "PING_FRAME",
    "PONG_FRAME",
    "SIO_ACK",
    "SIO_CONNECT",
    "SIO_CONNECT_ERROR",
    "SIO_DISCONNECT",
    "SIO_EVENT",
    "client_frame",
]

# Engine.IO v4 packet types (first character of a text frame).
EIO_OPEN, EIO_CLOSE, EIO_PING, EIO_PONG, EIO_MESSAGE = "0", "1", "2", "3", "4"
# Socket.IO v5 packet types (first character after the Engine.IO `4`).
SIO_CONNECT, SIO_DISCONNECT, SIO_EVENT, SIO_ACK, SIO_CONNECT_ERROR = "0", "1", "2", "3", "4"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


def _mask(payload: bytes, key: bytes) -> bytes:
    # XOR with the repeated 4-byte key in one big-int operation: far cheaper than a byte loop.
    n = len(payload)
    if n == 0:
        return payload
    repeated = (key * (n // 4 + 1))[:n]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return masked.to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One whole (FIN) client frame, `payload` masked with a fresh random key."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    return header + key + _mask(payload, key)


# The idle path: a server PING is always this exact 3-byte frame (text, unmasked, "2"), and
# the answer is always a PONG text frame "3". Recognising the one and replaying a pre-masked
# copy of the other skips parsing, decoding, masking and a syscall for random bytes at every
# heartbeat; at 10,000 idle users that is most of what a generator does.
PING_FRAME = bytes([0x80 | OP_TEXT, 1]) + EIO_PING.encode()
PONG_FRAME = client_frame(OP_TEXT, EIO_PONG.encode())
