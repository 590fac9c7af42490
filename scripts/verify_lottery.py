#!/usr/bin/env python3
"""Recompute a selection session's lottery (摇号) from its published seed and queue
numbers, with the Python standard library only.

    python3 scripts/verify_lottery.py --seed S --numbers 3,1,7 [--commitment C]

Prints the order, one "position queue-number" per line. With --commitment it first
checks that SHA-256 of the seed is the fingerprint published before the draw.
The rule is sales.services.lottery.lottery_order: each number's ticket is
SHA-256("<seed>:<number>") in hex; the order is the numbers sorted by ticket.
"""

from __future__ import annotations

import argparse
import hashlib
import sys


def ticket(seed: str, number: int) -> str:
    return hashlib.sha256(f"{seed}:{number}".encode()).hexdigest()


def lottery_order(seed: str, numbers: list[int]) -> list[int]:
    return sorted(set(numbers), key=lambda n: (ticket(seed, n), n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", required=True)
    parser.add_argument("--numbers", required=True, help="comma separated")
    parser.add_argument("--commitment", help="the published SHA-256 of the seed")
    args = parser.parse_args(argv)
    try:
        numbers = [int(n) for n in args.numbers.replace("，", ",").split(",") if n]
    except ValueError:
        parser.error("--numbers takes whole numbers separated by commas")
    if args.commitment is not None:
        fingerprint = hashlib.sha256(args.seed.encode()).hexdigest()
        if fingerprint != args.commitment.strip().lower():
            print(f"seed does not match the commitment ({fingerprint})")
            return 1
        print("commitment matches")
    for position, number in enumerate(lottery_order(args.seed, numbers), start=1):
        print(f"{position} {number}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
