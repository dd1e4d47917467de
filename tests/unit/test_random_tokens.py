"""Random hex tokens from a block of os.urandom (pbx/random_tokens.py)."""

from __future__ import annotations

from pbx.random_tokens import BLOCK, RandomHex


def test_tokens_are_hex_of_the_asked_length_and_do_not_repeat_across_blocks():
    tokens = RandomHex()
    seen = [tokens(8) for _ in range(3 * BLOCK // 8)]  # three blocks' worth, refills included
    assert all(len(token) == 16 and int(token, 16) >= 0 for token in seen)
    assert len(set(seen)) == len(seen)
    assert len(tokens(4)) == 8
