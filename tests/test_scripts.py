"""The shell scripts the README names parse, and evaluate_aaa.sh refuses what it must not redo.

A syntax error in a script that only runs for hours (evaluate_aaa.sh) would otherwise show only
when someone needs it; `bash -n` parses without running anything.
"""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh")) + [ROOT / ".ci" / "run"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_the_script_parses(script):
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _evaluate(*args):
    return subprocess.run(["bash", "scripts/evaluate_aaa.sh", *args], cwd=ROOT, capture_output=True, text=True)


def test_evaluate_aaa_needs_a_checkpoint_and_refuses_the_shipped_models_run():
    """Without a checkpoint it prints its usage; given the shipped model's own run it stops before
    anything is exported or drawn, since that run's folders are every pairing's baseline."""
    done = _evaluate()
    assert done.returncode != 0 and "usage: bash scripts/evaluate_aaa.sh CKPT" in done.stderr
    done = _evaluate("checkpoints/ala3_dit_aaa_1fs_cycle7/last.ckpt")
    assert done.returncode == 1 and "is the shipped model's run" in done.stderr
    assert "models/ala3_dit_report/" in done.stderr
    done = _evaluate("checkpoints/ala3_dit_aaa_1fs_cycle4/last.ckpt")
    assert done.returncode == 1 and "is the previously shipped model's run" in done.stderr
    assert "checkpoints/ala3_dit_aaa_1fs_cycle4/report/" in done.stderr
    for earlier in ("cycle3", "cycle2"):
        done = _evaluate(f"checkpoints/ala3_dit_aaa_1fs_{earlier}/last.ckpt")
        assert done.returncode == 1 and "is an earlier shipped model's run" in done.stderr
        assert f"checkpoints/ala3_dit_aaa_1fs_{earlier}/report/" in done.stderr
    done = _evaluate("checkpoints/no_such_run/last.ckpt")
    assert done.returncode == 1 and "no checkpoint checkpoints/no_such_run/last.ckpt" in done.stderr
