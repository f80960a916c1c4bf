"""Child process for tests/test_crash.py: writes to a memdeck data dir until it is SIGKILLed.

usage: python -u tests/crash_writer.py DATA_DIR START_N [--seed S] [--checkpoint-every N]
                                       [--pause-in-checkpoint STEP:N]

Each event is acknowledged on stdout with one ``write()`` of a whole line, flushed at once, and only
*after* the call it reports has returned (for a put or a delete: after its transaction committed):

    READY              ``Memdeck.open`` returned
    k<n>               ``md.put("crash", "k<n>", content_for(n))`` returned
    DEL-BEGIN k<n>     about to delete k<n> (so the test knows the delete may or may not have landed)
    DEL k<n>           ``md.delete("crash", "k<n>")`` returned
    CKPT-BEGIN         about to call ``md.checkpoint()``
    CKPT-END           ``md.checkpoint()`` returned
    CKPT-STAGE s:n     (with ``--pause-in-checkpoint s:n``) the checkpoint is about to run the n-th
                       call of step s and now hangs there until it is killed

``--pause-in-checkpoint`` puts the kill at an exact point of the checkpoint protocol: before a file
fsync (``fsync_file:1..3``), a directory fsync (``fsync_dir:1`` temp folder, ``fsync_dir:2`` after
the rename), the switch of CURRENT (``atomic_write_bytes:1``) or the removal of the previous
generation (``rmtree:1``). The steps themselves are the real code.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import types
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(TESTS.parent))

COLLECTION = "crash"
WORDS = ("amber", "basalt", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "indigo", "juniper",
         "kelp", "lantern", "meadow", "nectar", "orchid", "pebble", "quartz", "raven", "saffron", "tundra",
         "umber", "violet", "willow", "xenon", "yarrow", "zephyr", "anvil", "bramble", "cobalt", "dune")


def key_for(n: int) -> str:
    return f"k{n}"


def content_for(n: int) -> str:
    """A few random words plus ``n``; deterministic so the test can recompute what was written."""
    rng = random.Random(n * 7919 + 17)
    return " ".join(rng.sample(WORDS, 4)) + f" {n}"


def number_of(key: str) -> int:
    return int(key[1:])


def _ack(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class CheckpointHooks:
    """Wrap the steps of ``VectorIndex.save_checkpoint`` (file fsyncs, directory fsyncs, the switch of
    CURRENT, removal of old generations) so that, while armed, the ``pause_at`` step (``name:count``,
    e.g. ``fsync_dir:2``) announces itself and then hangs before running, waiting for the kill."""

    STEPS = ("_fsync_file", "fsync_dir", "atomic_write_bytes", "rmtree")

    def __init__(self, pause_at: str) -> None:
        import shutil

        import core.vectors as vectors

        self.pause_at = pause_at
        self.armed = False
        self.counts: dict[str, int] = {}
        for name in self.STEPS[:3]:
            setattr(vectors, name, self._wrap(name.lstrip("_"), getattr(vectors, name)))
        # Only core.vectors sees the wrapped rmtree; the real shutil module is left alone.
        vectors.shutil = types.SimpleNamespace(rmtree=self._wrap("rmtree", shutil.rmtree))  # type: ignore[attr-defined]

    def _wrap(self, name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if self.armed:
                self.counts[name] = self.counts.get(name, 0) + 1
                stage = f"{name}:{self.counts[name]}"
                if stage == self.pause_at:
                    _ack(f"CKPT-STAGE {stage}")
                    time.sleep(3600)
            return fn(*args, **kwargs)
        return wrapper

    def arm(self, on: bool) -> None:
        self.armed = on
        self.counts.clear()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("start_n", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=50)
    parser.add_argument("--pause-in-checkpoint", default="", metavar="STEP:N")
    args = parser.parse_args(argv)

    from helpers import WordHashEmbedder

    from core.memdeck import Memdeck

    hooks = CheckpointHooks(args.pause_in_checkpoint) if args.pause_in_checkpoint else None
    rng = random.Random(args.seed)
    md = Memdeck.open(args.data_dir, embedder=WordHashEmbedder())
    _ack("READY")
    live: list[int] = []
    n = args.start_n
    next_checkpoint = args.checkpoint_every
    while True:
        md.put(COLLECTION, key_for(n), content_for(n))
        _ack(key_for(n))
        live.append(n)
        n += 1
        if len(live) > 5 and rng.random() < 0.08:
            victim = live.pop(rng.randrange(len(live) - 1))  # never the newest
            _ack(f"DEL-BEGIN {key_for(victim)}")
            md.delete(COLLECTION, key_for(victim))
            _ack(f"DEL {key_for(victim)}")
        next_checkpoint -= 1
        if next_checkpoint <= 0:
            _ack("CKPT-BEGIN")
            if hooks is not None:
                hooks.arm(True)
            md.checkpoint()
            if hooks is not None:
                hooks.arm(False)
            _ack("CKPT-END")
            next_checkpoint = max(1, args.checkpoint_every + rng.randint(-10, 10))


if __name__ == "__main__":
    main()
