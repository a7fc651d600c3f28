"""Writing files that other processes read: whole or not at all."""
from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes) -> None:
    """Write beside, then rename over: a crash or a parallel writer never leaves half a file under the name
    (the temporary name carries the process id, so two writers never share one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
