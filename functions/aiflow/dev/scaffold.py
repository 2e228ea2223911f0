"""placeholder"""

from typing import Any


def add_parser(commands: Any) -> None:
    """x"""


def run(args: Any) -> int:
    """x"""
    return 0
