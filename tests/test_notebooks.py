"""The notebooks run top to bottom with the shipped model and data, and compute what they print.

Parameters are injected the papermill way: each notebook has one code cell tagged ``parameters``
whose committed values are the full-size run, and a cell inserted right after it (tagged
``injected-parameters``) overrides them. The default tests inject small sizes (a few frames and
draws) and run both notebooks side by side, one kernel each. A probe cell appended at the end prints
the notebook's own variables as JSON; the tests check those values, and that the text the cells
print agrees with them, not only that no cell raised.

``-m slow`` runs the committed notebooks at full size with the same checks. With
``REXMOL_WRITE_NOTEBOOKS=1`` that slow test also writes the executed notebooks (outputs included,
probe removed) back into ``notebooks/``, which is how the committed outputs are refreshed.
"""

import asyncio
import json
import math
import os
import re
import time
from pathlib import Path

import nbclient
import nbformat
import numpy as np
import pytest
from nbclient.exceptions import CellTimeoutError

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LIKELIHOOD = NOTEBOOKS / "likelihood_evaluation.ipynb"
REWEIGHTED = NOTEBOOKS / "reweighted_generation.ipynb"

# Hang guards, not performance limits: the slowest cell of a small run takes under a minute on the
# idle 2-core machine and a few beside MD; a full-size cell takes minutes (notebooks/README.md).
CELL_HANG_GUARD_S = 3600
KERNEL_START_HANG_GUARD_S = 600
PROBE = "REXMOL_NOTEBOOK_PROBE "

SMALL = {
    # An exact solve of 1-2 conformers costs 20-90 s on this CPU, nearly whatever their number
    # (each field evaluation is a 96-dimensional exact divergence), so the small runs cut solves:
    # likelihood_evaluation keeps its three (MD frames data -> noise, a draw, its independent
    # reverse solve), each on 1-2 conformers, with 2 frames for a spread and 2 Hutchinson seeds;
    # reweighted_generation draws one chunk and leaves the round trip to likelihood_evaluation.
    # The solver settings stay the notebooks' own (rtol = atol = 1e-3): at 1e-2 an independent
    # reverse solve of a draw already misses its log q by 160 nats (measured), so a looser
    # tolerance would test nothing.
    LIKELIHOOD: {"N_FRAMES": 2, "N_SAMPLES": 1, "N_HUTCHINSON": 2},
    REWEIGHTED: {"N": 2, "CHUNK": 2, "ROUNDTRIP_CHUNKS": 0, "MD_FRAMES": 1000},
}
# The kernel, a process of its own, runs torch on one thread, as conftest.py sets for the test
# process. On a loaded 2-core machine two OpenMP threads wait on each other at every barrier:
# measured beside two MD processes, a 3-step Rex(dopri5) draw of 2 conformers took 26 CPU-s
# (53 s) on one thread and had not finished after 400 CPU-s (14 min) on two. On an idle machine
# one thread costs little here (batches of 1-3 conformers).
KERNEL_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

PROBES = {
    LIKELIHOOD: """
import json as _json, resource as _resource
_cpu = _resource.getrusage(_resource.RUSAGE_SELF)
print("{probe}" + _json.dumps({{"kernel_cpu_s": _cpu.ru_utime + _cpu.ru_stime,
    "params": {{"N_FRAMES": N_FRAMES, "N_SAMPLES": N_SAMPLES, "N_HUTCHINSON": N_HUTCHINSON}},
    "dim": generator.dim, "frames_shape": list(frames.shape), "log_q_md": log_q_md.tolist(),
    "x_shape": list(draw.x.shape), "log_q_forward": draw.log_q.tolist(), "stats": draw.stats,
    "hutch": hutch.tolist()}}, default=float))
""",
    REWEIGHTED: """
import json as _json, resource as _resource
_cpu = _resource.getrusage(_resource.RUSAGE_SELF)
print("{probe}" + _json.dumps({{"kernel_cpu_s": _cpu.ru_utime + _cpu.ru_stime,
    "params": {{"N": N, "CHUNK": CHUNK, "ROUNDTRIP_CHUNKS": ROUNDTRIP_CHUNKS, "MD_FRAMES": MD_FRAMES}},
    "out": str(out), "results": results,
    "x_shape": list(arrays["x"].shape), "printed_order": order[:5].tolist(),
    **{{k: arrays[k].tolist() for k in ("log_q", "u", "log_w", "weights")}}}}, default=float))
""",
}


def parameters_cell(notebook) -> int:
    tagged = [i for i, c in enumerate(notebook.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"expected exactly one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def defaults(notebook) -> dict:
    """The committed (full-size) values of the parameters cell."""
    values = {}
    exec(notebook.cells[parameters_cell(notebook)].source, {}, values)
    return values


def inject(notebook, params: dict) -> None:
    """Insert a cell overriding ``params`` right after the ``parameters`` cell (papermill's convention)."""
    unknown = set(params) - set(defaults(notebook))
    assert not unknown, f"not parameters of this notebook: {sorted(unknown)}"
    source = "# Injected parameters\n" + "".join(f"{k} = {v!r}\n" for k, v in params.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(parameters_cell(notebook) + 1, cell)


class NotebookHang(Exception):
    """A hang guard tripped: a cell or the kernel start ran past its (generous) limit."""


async def run_notebook(path: Path, params: dict | None) -> tuple:
    """Run the notebook (with ``params`` injected, if given) plus a probe cell.
    Returns (executed notebook, probe dict, the parameters in force, wall seconds)."""
    notebook = nbformat.read(path, as_version=4)
    expected = defaults(notebook) | (params or {})
    if params:
        inject(notebook, params)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBES[path].format(probe=PROBE)))
    client = nbclient.NotebookClient(notebook, timeout=CELL_HANG_GUARD_S, startup_timeout=KERNEL_START_HANG_GUARD_S,
                                     iopub_timeout=300, kernel_name="python3", record_timing=False,
                                     resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    try:
        await client.async_execute(env=os.environ | KERNEL_ENV)  # raises CellExecutionError naming the failing cell
    except CellTimeoutError as e:
        raise NotebookHang(f"hang guard: a cell of {path.name} ran for more than {CELL_HANG_GUARD_S} s. This limit "
                           f"is not a speed requirement (a cell takes minutes at most, even on a loaded machine); it "
                           f"only stops a hung kernel. {e}") from e
    except RuntimeError as e:
        if "respond" not in str(e):
            raise
        raise NotebookHang(f"hang guard: the kernel for {path.name} did not start within {KERNEL_START_HANG_GUARD_S} "
                           f"s; this limit only stops a hung start. {e}") from e
    seconds = time.perf_counter() - t0
    return notebook, expected, seconds


def probe_of(notebook) -> dict:
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    probe_out = stdout(notebook.cells[-1])
    assert probe_out.startswith(PROBE), f"the probe cell printed no results: {probe_out[:500]!r}"
    return json.loads(probe_out[len(PROBE):])


def outcome(result):
    """The (notebook, expected, seconds) of a run, or the run's failure raised here."""
    if isinstance(result, NotebookHang):
        pytest.fail(str(result))
    if isinstance(result, BaseException):
        raise result
    return result


def stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def cell_with(notebook, marker: str):
    hits = [c for c in notebook.cells if c.cell_type == "code" and marker in c.source]
    assert len(hits) == 1, f"expected one code cell containing {marker!r}, found {len(hits)}"
    return hits[0]


def images(cell) -> int:
    return sum("image/png" in o.get("data", {}) for o in cell.get("outputs", []))


def printed_number(text: str, pattern: str) -> float:
    m = re.search(pattern, text)
    assert m, f"{pattern!r} not found in the printed output:\n{text}"
    return float(m.group(1))


# An independent adaptive data -> noise solve of a drawn conformer differs from the log q
# accumulated while drawing it by discretisation error only: measured 2.3 nats at rtol = atol = 1e-3
# and zeta = 0.5 (the notebooks' settings). A unit slip (96 log 5 = 154.5 nats) or a sign error in
# the divergence integral (~600 nats here) fails this by far, and so does Rex at zeta = 0.999, whose
# coupled pair drifts at this tolerance (measured: 23 nats).
DIRECTIONS_NATS = 10.0


def check_round_trip(stats: dict) -> None:
    """A Rex draw taken back to noise (``sample(..., roundtrip=True)``): by the algebraic inverse on
    its own grid, the noise comes back to float32 rounding times the predicted amplification
    (measured 1.2e-5 at amplification 1 (zeta = 0.999), 1.2e-4 at 128 (zeta = 0.5), in the
    scaled coordinates where z ~ N(0, 1)); a broken inverse or a mis-recorded grid misses by O(0.1-1).
    By an independent reverse solve, log q comes back within DIRECTIONS_NATS."""
    algebraic, amplification = stats["algebraic_inverse_z_max_abs"], stats["algebraic_inverse_predicted_amplification"]
    assert algebraic is not None and algebraic < min(0.05, 1e-4 * max(1.0, amplification)), stats
    assert stats["roundtrip_log_q_max_abs"] < DIRECTIONS_NATS, stats


# Hutchinson estimates of log q carry the probe's noise: measured errors up to 33 nats (std ~17) on
# the shipped model. The divergence integral itself is ~310 nats here, so a sign slip (~620 nats off)
# or a lost factor of the estimator (~310 off) fails this bound.
HUTCHINSON_NATS = 100.0


def check_likelihood(notebook, probe, params) -> None:
    n_frames, n_samples, n_hutch = params["N_FRAMES"], params["N_SAMPLES"], params["N_HUTCHINSON"]
    assert probe["params"] == {k: params[k] for k in ("N_FRAMES", "N_SAMPLES", "N_HUTCHINSON")}
    dim = probe["dim"]
    assert dim == 96

    # 1. exact log q of MD frames, and the NLL the cell prints is computed from them
    assert probe["frames_shape"] == [n_frames, 33, 3]
    log_q_md = np.array(probe["log_q_md"])
    assert log_q_md.shape == (n_frames,) and np.isfinite(log_q_md).all()
    assert np.unique(log_q_md).size == n_frames  # distinct frames, distinct densities
    text = stdout(cell_with(notebook, "log_q_md = generator.log_prob(frames)"))
    assert printed_number(text, r"NLL = (-?[\d.]+) \+-") == pytest.approx(-log_q_md.mean(), abs=0.006)
    assert printed_number(text, r"\((-?[\d.]+) nats per degree of freedom\)") == pytest.approx(
        -log_q_md.mean() / dim, abs=6e-4)

    # 2. both directions agree, and the cell prints what the draw measured
    assert probe["x_shape"] == [n_samples, 33, 3]
    forward = np.array(probe["log_q_forward"])
    assert forward.shape == (n_samples,) and np.isfinite(forward).all()
    stats = probe["stats"]
    check_round_trip(stats)
    text = stdout(cell_with(notebook, "draw = generator.sample(N_SAMPLES, seed=1, roundtrip=True)"))
    assert printed_number(text, r"Rex algebraic inverse: +max \|z - z_back\| = ([\d.e+-]+) ") == pytest.approx(
        stats["algebraic_inverse_z_max_abs"], rel=0.01)
    assert printed_number(text, r"independent data->noise: max \|z - z_back\| = ([\d.e+-]+),") == pytest.approx(
        stats["roundtrip_z_max_abs"], rel=0.01)
    assert printed_number(text, r"max \|log q_forward - log q_reverse\| = ([\d.]+) nats") == pytest.approx(
        stats["roundtrip_log_q_max_abs"], abs=6e-4)
    printed = re.search(r"log q of the samples \(forward\): \[([^\]]*)\]", text).group(1).split()
    np.testing.assert_allclose([float(v) for v in printed], forward, atol=0.006)

    # 3. Hutchinson: independent, noisy estimates of the same exact log q
    hutch = np.array(probe["hutch"])
    assert hutch.shape == (n_hutch, n_frames) and np.isfinite(hutch).all()
    err = hutch - log_q_md[None]
    assert np.unique(hutch.round(6), axis=0).shape[0] == n_hutch  # the seeds give different probes
    assert np.abs(err).max() < HUTCHINSON_NATS, err
    text = stdout(cell_with(notebook, "hutch.append(g.log_prob(frames))"))
    assert f"{n_hutch} Hutchinson passes" in text
    assert printed_number(text, r"mean (-?[\d.]+), std") == pytest.approx(err.mean(), abs=0.006)
    assert images(cell_with(notebook, "plt.show()")) == 1


def check_reweighted(notebook, probe, params) -> None:
    n, chunk, md_frames, roundtrip_chunks = params["N"], params["CHUNK"], params["MD_FRAMES"], params["ROUNDTRIP_CHUNKS"]
    assert probe["params"] == {k: params[k] for k in ("N", "CHUNK", "ROUNDTRIP_CHUNKS", "MD_FRAMES")}
    results, out = probe["results"], Path(probe["out"])
    n_chunks = -(-n // chunk)
    assert results["n"] == n and results["chunks"] == n_chunks
    assert results["roundtrip_samples"] == sum(min(chunk, n - i * chunk) for i in range(min(roundtrip_chunks, n_chunks)))
    if md_frames is not None:
        assert results["md_test_frames"] == md_frames

    assert probe["x_shape"] == [n, 33, 3]
    log_q, u, log_w, w = (np.array(probe[k]) for k in ("log_q", "u", "log_w", "weights"))
    assert np.isfinite(log_q).all()
    finite = np.isfinite(u)
    assert results["n_nonfinite_energy"] == int((~finite).sum())
    assert finite.sum() > n / 2, u  # energies are finite for most samples
    # log w = -u - log q, zero weight exactly where excluded, weights normalised
    kept = np.isfinite(log_w)
    assert not kept[~finite].any() and kept.sum() >= n - results["n_nonfinite_energy"] - results["n_d_chirality"]
    np.testing.assert_allclose(log_w[kept], -u[kept] - log_q[kept], rtol=1e-12)
    assert (w[~kept] == 0).all() and w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w[kept], np.exp(log_w[kept] - log_w[kept].max()) / np.exp(log_w[kept] - log_w[kept].max()).sum(),
                               rtol=1e-9, atol=1e-300)
    # Kish ESS, a fraction of N in [1/N, 1]
    assert results["ess_fraction"] == pytest.approx(1.0 / (n * (w**2).sum()), rel=1e-9)
    assert 1.0 / n - 1e-12 <= results["ess_fraction"] <= 1.0
    if roundtrip_chunks:
        check_round_trip(json.loads(str(np.load(out / "chunks" / "chunk_00000.npz")["stats"])))
    else:
        assert results.get("roundtrip_log_q_max_abs") is None
    assert results["E_W2_kT"] > 0 and math.isfinite(results["E_W2_kT"])
    assert results["E_W2_kT_reweighted"] >= 0 and math.isfinite(results["E_W2_kT_reweighted"])
    for k in ("T_W2_rad", "T_W2_rad_reweighted"):  # five torsions: at most pi * sqrt(5) apart on the torus
        assert 0 < results[k] <= math.pi * math.sqrt(5), results

    # the printed table is the results, and the cell that reads arrays.npz prints the top weights
    text = stdout(cell_with(notebook, "results = sample_conformers("))
    for key in ("solver", "ess_fraction", "E_W2_kT", "n_nonfinite_energy", "roundtrip_log_q_max_abs"):
        assert f"{key:26s} {results.get(key)}" in text
    text = stdout(cell_with(notebook, "largest normalised weights"))
    top = np.array(probe["printed_order"])
    assert (np.diff(w[top]) <= 0).all() and (w[top][0] == w.max())
    printed = [float(v) for v in re.search(r"largest normalised weights: \[([^\]]*)\]", text).group(1).split()]
    np.testing.assert_allclose(printed, np.round(w[top], 3))
    for name in ("ramachandran.png", "energies.png", "weights.png", "samples.dcd", "resampled.dcd", "arrays.npz",
                 "results.json", "samples_lowest_energy.pdb"):
        assert (out / name).stat().st_size > 0, name
    assert images(cell_with(notebook, "ramachandran.png")) == 1
    assert images(cell_with(notebook, "weights.png")) == 2
    import mdtraj

    assert mdtraj.load_dcd(str(out / "resampled.dcd"), top=str(out / "samples_lowest_energy.pdb")).n_frames == n


CHECKS = {LIKELIHOOD: check_likelihood, REWEIGHTED: check_reweighted}


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    """Both notebooks with their small parameters, at the same time: each kernel is a process on one
    thread, so on 2 idle cores they run side by side and the pair takes as long as the slower one."""
    out = tmp_path_factory.mktemp("notebooks")
    params = {LIKELIHOOD: dict(SMALL[LIKELIHOOD]), REWEIGHTED: dict(SMALL[REWEIGHTED], OUT=str(out / "reweighted"))}

    async def both():
        return await asyncio.gather(*(run_notebook(path, p) for path, p in params.items()), return_exceptions=True)

    t0 = time.perf_counter()
    runs = dict(zip(params, asyncio.run(both())))
    print(f"both notebooks, small, side by side: {time.perf_counter() - t0:.0f} s")
    for path, result in runs.items():
        if not isinstance(result, BaseException):
            nbformat.write(result[0], out / path.name)  # the executed notebook, to look at after a run
    return runs


@pytest.mark.parametrize("path", [LIKELIHOOD, REWEIGHTED], ids=lambda p: p.stem)
def test_notebook_small(path, small_runs):
    notebook, expected, seconds = outcome(small_runs[path])
    probe = probe_of(notebook)
    print(f"{path.name}: {seconds:.0f} s wall, {probe['kernel_cpu_s']:.0f} s kernel CPU")
    CHECKS[path](notebook, probe, expected)


@pytest.mark.slow
@pytest.mark.parametrize("path", [LIKELIHOOD, REWEIGHTED], ids=lambda p: p.stem)
def test_notebook_full_size(path):
    try:
        notebook, expected, seconds = asyncio.run(run_notebook(path, None))
    except NotebookHang as e:
        pytest.fail(str(e))
    probe = probe_of(notebook)
    print(f"{path.name}: {seconds:.0f} s wall, {probe['kernel_cpu_s']:.0f} s kernel CPU, at full size")
    CHECKS[path](notebook, probe, expected)
    if os.environ.get("REXMOL_WRITE_NOTEBOOKS") == "1":
        del notebook.cells[-1]  # the probe
        nbformat.write(notebook, path)
