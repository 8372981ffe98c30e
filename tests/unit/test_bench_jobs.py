"""The benchmark's side-by-side processes: chains in order, fixed threads, failures stop the rest."""

from __future__ import annotations

import argparse
import json
import time

import pytest

from ovseg.bench.inputs import BenchInputError
from ovseg.bench.jobs import Chain, Step, run_chains
from ovseg.bench.runs import MethodRunError
from ovseg.bench.synthetic_mode import _chains, concurrent_chains, plan_synthetic


def python_step(tmp_path, name: str, statement: str) -> Step:
    """A process that runs one Python statement (through the standard library's timeit, once)."""
    return Step(name, "timeit", ["-n", "1", "-r", "1", statement], tmp_path / f"{name}.log")


def test_chains_run_their_steps_in_order_with_the_thread_setting(tmp_path):
    first, second, planned = (tmp_path / name for name in ("first", "second", "planned"))
    write_threads = (
        f"import os, pathlib; pathlib.Path({str(first)!r}).write_text(os.environ['OMP_NUM_THREADS'])"
    )
    # the second step of chain "a" is planned only when the first has finished, from its output
    copy = (
        f"import pathlib; pathlib.Path({str(planned)!r}).write_text(pathlib.Path({str(first)!r}).read_text())"
    )
    plan_next = lambda: [python_step(tmp_path, "a2", copy)]  # noqa: E731
    chains = [
        Chain("a", [python_step(tmp_path, "a1", write_threads)], plan_next),
        Chain("b", [python_step(tmp_path, "b1", f"import pathlib; pathlib.Path({str(second)!r}).touch()")]),
    ]
    waited = []
    run_chains(chains, threads=3, while_waiting=lambda: waited.append(True))
    assert first.read_text() == "3" and planned.read_text() == "3" and second.exists()
    assert waited == [True]
    assert (tmp_path / "a1.log").is_file() and (tmp_path / "a2.log").is_file()


def test_a_failing_step_stops_the_others_and_names_its_log(tmp_path):
    never = tmp_path / "never"
    chains = [
        Chain("slow", [python_step(tmp_path, "slow", "import time; time.sleep(60)")]),
        Chain("bad", [python_step(tmp_path, "bad", "raise SystemExit('the model diverged')")]),
        Chain("after", [python_step(tmp_path, "wait", "import time; time.sleep(60)")]),
    ]
    chains[1].steps.append(python_step(tmp_path, "never", f"open({str(never)!r}, 'w')"))
    started = time.perf_counter()
    with pytest.raises(MethodRunError, match="bad failed") as error:
        run_chains(chains, threads=1)
    assert time.perf_counter() - started < 30  # the sleeping processes were stopped, not waited for
    assert "the model diverged" in str(error.value) and str(tmp_path / "bad.log") in str(error.value)
    assert not never.exists()  # nothing after a failed step runs


def plan_args(**changes) -> argparse.Namespace:
    values = dict(methods=["segclip", "sseg", "sseg+"], protocol="groupvit", steps=None, seed=[0], threads=1,
                  eval_images=8, grid=2, lightning_args="")  # fmt: skip
    return argparse.Namespace(**{**values, **changes})


def test_the_plan_checks_methods_and_threads_before_any_work():
    plan = plan_synthetic(plan_args())
    assert list(plan.recipes) == ["segclip", "sseg", "sseg+"]
    assert list(plan_synthetic(plan_args(methods=["sseg+", "sseg"])).recipes) == ["sseg", "sseg+"]
    assert plan.recipes["sseg+"].name == "tiny_cpu.yaml" and plan.recipes["sseg+"].parent.name == "selftrain"
    with pytest.raises(BenchInputError, match="sseg\\+ self-trains on sseg's labels: add sseg"):
        plan_synthetic(plan_args(methods=["segclip", "sseg+"]))
    with pytest.raises(BenchInputError, match="Valid methods: segclip, sseg, sseg\\+"):
        plan_synthetic(plan_args(methods=["groupvit"]))
    with pytest.raises(BenchInputError, match="--threads must be at least 1"):
        plan_synthetic(plan_args(threads=0))
    with pytest.raises(BenchInputError, match="--seed takes distinct seeds of at least 0, got 1 1"):
        plan_synthetic(plan_args(seed=[1, 1]))
    with pytest.raises(BenchInputError, match="got 0 -2"):
        plan_synthetic(plan_args(seed=[0, -2]))


def test_further_seeds_train_every_method_again_in_a_folder_of_their_own(tmp_path, monkeypatch):
    plan = plan_synthetic(plan_args(seed=[3, 7]))
    chains = _chains(plan, tmp_path)
    assert [chain.name for chain in chains] == [
        "segclip", "sseg", "ground-truth oracle", "sseg (seed 7)", "segclip (seed 7)",
    ]  # fmt: skip
    oracle = chains.pop(2)  # the first seed's only (below)
    outs = [chain.steps[0].args[chain.steps[0].args.index("--out") + 1] for chain in chains]
    assert outs == [str(tmp_path / "segclip"), str(tmp_path / "sseg"),
                    str(tmp_path / "seed-7" / "sseg"), str(tmp_path / "seed-7" / "segclip")]  # fmt: skip
    seeds = [chain.steps[0].args[chain.steps[0].args.index("--seed") + 1] for chain in chains]
    assert seeds == ["3", "3", "7", "7"]
    assert chains[1].plan_next is not None and chains[2].plan_next is not None  # S-Seg+ after each S-Seg
    (tmp_path / "seed-7" / "sseg").mkdir(parents=True)  # what S-Seg's run leaves for S-Seg+'s planning
    data = {"synthetic_length": 32, "image_size": 64, "seed": 0}
    (tmp_path / "seed-7" / "sseg" / "result.json").write_text(json.dumps({"train": {"data": data}}))
    planned = chains[2].plan_next()
    assert [step.what for step in planned] == [
        "pseudo-labelling 32 training scenes with S-Seg (seed 7)",
        "training S-Seg+ (selftrain on S-Seg's pseudo-labels) (seed 7)",
    ]
    assert all(str(tmp_path / "seed-7" / "sseg_plus") in str(step.log) for step in planned)
    # the ground-truth oracle waits for the first seed's S-Seg to record its training scenes
    assert oracle.steps == [] and not oracle.can_start()
    (tmp_path / "sseg").mkdir()
    (tmp_path / "sseg" / "result.json").write_text(json.dumps({"train": {"data": {**data, "seed": 5}}}))
    assert oracle.can_start()
    write, train = oracle.plan_next()
    assert write.module == "ovseg.bench.ground_truth_oracle"
    assert write.args == ["--out", str(tmp_path / "oracle_ground_truth" / "labels"), "--num-images", "32",
                          "--image-size", "64", "--seed", "5"]  # fmt: skip
    assert train.args[train.args.index("--seed") + 1] == "3"  # the first seed's, like its S-Seg+
    assert train.args[train.args.index("--recipe") + 1] == str(plan.recipes["sseg+"])
    # one seed's methods always side by side; further seeds fill the cores without sharing them
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert concurrent_chains(plan) == 2
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert concurrent_chains(plan) == 8
    assert concurrent_chains(plan_synthetic(plan_args(seed=[3, 7], threads=2))) == 4


def test_further_seeds_queue_the_longest_chains_first(tmp_path):
    """S-Seg's chain (S-Seg+ follows it) waits before SegCLIP's, so a short chain ends the run."""
    chains = _chains(plan_synthetic(plan_args(seed=[0, 1, 2])), tmp_path)
    assert [chain.name for chain in chains] == [
        "segclip", "sseg", "ground-truth oracle", "sseg (seed 1)", "sseg (seed 2)", "segclip (seed 1)",
        "segclip (seed 2)",
    ]  # fmt: skip
    plain = _chains(plan_synthetic(plan_args(seed=[0, 1], methods=["segclip", "sseg"])), tmp_path)
    assert [chain.name for chain in plain] == ["segclip", "sseg", "segclip (seed 1)", "sseg (seed 1)"]


def test_at_most_max_running_chains_run_at_once(tmp_path):
    def stamped(name: str) -> Step:  # writes its start and end times
        statement = (
            f"import time, pathlib; p = pathlib.Path({str(tmp_path / name)!r}); start = time.time(); "
            "time.sleep(0.8); p.write_text(f'{start} {time.time()}')"
        )
        return python_step(tmp_path, name, statement)

    run_chains([Chain(name, [stamped(name)]) for name in ("a", "b", "c")], threads=1, max_running=2)
    times = {name: [float(t) for t in (tmp_path / name).read_text().split()] for name in "abc"}
    assert times["c"][0] >= min(times["a"][1], times["b"][1])  # c waited for a or b to end
    assert times["b"][0] < times["a"][1] and times["a"][0] < times["b"][1]  # a and b overlapped


def test_a_waiting_chain_starts_once_ready_and_never_before(tmp_path):
    flag, started, ended = (tmp_path / name for name in ("flag", "started", "ended"))
    first = python_step(
        tmp_path, "first", f"import time, pathlib; time.sleep(0.6); pathlib.Path({str(flag)!r}).touch()"
    )
    more = python_step(
        tmp_path, "more", f"import time, pathlib; time.sleep(1.5); pathlib.Path({str(ended)!r}).touch()"
    )
    late = python_step(  # fails, and so fails the run, if it starts before the flag exists
        tmp_path,
        "late",
        f"import pathlib as p; assert p.Path({str(flag)!r}).exists(); p.Path({str(started)!r}).touch()",
    )
    run_chains(
        [Chain("a", [first, more]), Chain("waits", [late], ready=flag.exists)], threads=1, max_running=2
    )
    assert started.stat().st_mtime < ended.stat().st_mtime  # it started as soon as it could, beside "more"
    never = Chain("never", [python_step(tmp_path, "never", "pass")], ready=lambda: False)
    with pytest.raises(MethodRunError, match="wait for a condition never met: never"):
        run_chains([Chain("short", [python_step(tmp_path, "short", "pass")]), never], threads=1)
    assert not (tmp_path / "never.log").exists()


def test_a_long_step_is_reported_as_still_running(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("ovseg.bench.jobs.HEARTBEAT_SECONDS", 0.2)
    run_chains([Chain("slow", [python_step(tmp_path, "sleeper", "import time; time.sleep(1.5)")])], threads=1)
    out = capsys.readouterr().out
    assert "bench: still running: sleeper (" in out and "bench: sleeper: done in" in out
