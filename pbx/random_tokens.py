"""Random hex tokens (tags, branches, call and leg ids) from the kernel, a block at a time.

`secrets.token_hex` asks the kernel for each token (a getrandom system call); call setup makes
about ten tokens per call. `random_hex` reads 4 KiB from os.urandom at once and hands out
slices of it: the same unpredictability (RFC 3261 19.3 asks tags for 32 random bits, 8.1.1.7
branches to be unique), a tenth of the system calls. Not for secrets that must be kept: admin
tokens and keys come from `secrets` and os.urandom directly.
"""

from __future__ import annotations

import os

BLOCK = 4096


class RandomHex:
    __slots__ = ("_block", "_offset")

    def __init__(self) -> None:
        self._block = b""
        self._offset = 0

    def __call__(self, nbytes: int = 8) -> str:
        """``nbytes`` random bytes as 2 * ``nbytes`` hex digits."""
        end = self._offset + nbytes
        if end > len(self._block):
            self._block, self._offset, end = os.urandom(BLOCK), 0, nbytes
        token = self._block[self._offset:end].hex()
        self._offset = end
        return token


random_hex = RandomHex()
