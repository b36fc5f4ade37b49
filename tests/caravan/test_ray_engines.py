"""In-process models on Ray run in engine actors: the stage gives the rows it gives locally,
each model is loaded once per replica (never in a stage worker), the stage workers share the
replicas, the `ray:` placement reaches the actors, and the response cache keys stay the same.
Uses the tiny random model with the local backend on one local Ray (2 CPUs)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from caravan.prefs.stages import Answer
from caravan.synth.stages import Complete

from caravan.errors import CaravanError
from caravan.runner import run_stage
from caravan.session import LLM


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    from caravan import ray_executor

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # WatchedAnswer below
    ray_executor.init(num_cpus=2)
    yield ray
    ray.shutdown()


class WatchedAnswer(Answer):
    """Answer whose stage workers leave a mark if they ever load a model themselves."""

    def __init__(self, *args, marks: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._marks = marks

    def setup(self) -> None:
        import time

        from caravan.llm.backends.local import LocalBackend

        marks, original = Path(self._marks), LocalBackend.load
        # both workers up before either takes a batch, so both get some
        (marks.parent / f"up-{os.getpid()}").touch()
        deadline = time.monotonic() + 60
        while len(list(marks.parent.glob("up-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)

        def load(backend):
            (marks / f"worker-{os.getpid()}").write_text(backend.model)
            original(backend)

        LocalBackend.load = load  # type: ignore[method-assign]


def _rows(n=8):
    return [{"id": f"p{i}", "prompt": f"Write one number above {i}."} for i in range(n)]


def _answer(model, cache, marks=None):
    """Pool: the tiny model (1 replica); on-policy: the same weights with other backend
    options (other engines), 2 replicas. Greedy, so both executors must agree exactly."""
    place = {"num_gpus": 0, "num_cpus": 0.25}
    pool = LLM(str(model), "local", cache=cache, progress=False, temperature=0,
               placement={**place, "replicas": 1})  # fmt: skip
    policy = LLM(str(model), "local", cache=cache, progress=False, temperature=0,
                 backend_options={"max_batch_size": 4}, placement={**place, "replicas": 2})  # fmt: skip
    if marks is None:
        stage = Answer([pool], k=1, on_policy=policy, max_tokens=6)
    else:
        stage = WatchedAnswer([pool], k=1, on_policy=policy, max_tokens=6, marks=str(marks))
    stage.batch_size = 2
    return stage


def test_answer_with_local_models_on_ray_uses_shared_engine_actors(
    ray_local, tiny_model_dir, tmp_path
):
    from caravan import ray_engines, ray_executor

    local = run_stage(_answer(tiny_model_dir, tmp_path / "local.sqlite"), _rows(), progress=False)
    marks = tmp_path / "marks"
    marks.mkdir()
    cache = tmp_path / "ray.sqlite"
    stage = _answer(tiny_model_dir, cache, marks)
    on_ray = ray_executor.apply(_rows(), stage, progress=False, workers=2, num_cpus=0.5)
    # (a) the same rows as locally
    assert on_ray.table.equals(local.table)
    assert all(c["ok"] for row in on_ray.to_list() for c in row["candidates"])
    # the driver's sessions are their own again
    assert all(s.engines is None for s in stage.sessions())

    # (b) three engine actors (1 pool + 2 policy replicas), each loaded the model once;
    # no stage worker loaded one
    handles = dict(ray_engines._STARTED)
    assert len(handles) == 3
    stats = {name: ray_local.get(h.stats.remote()) for name, h in handles.items()}
    assert all(s["loads"] == 1 for s in stats.values())
    assert len({s["pid"] for s in stats.values()}) == 3
    assert list(marks.iterdir()) == []
    pool_name = next(n for n in stats if n.endswith("-0") and stats[n]["requests"] == 8)
    policy = [s for n, s in stats.items() if n != pool_name]
    assert sum(s["requests"] for s in policy) == 8  # one answer per prompt from each model
    # (c) both stage workers sent their batches to the pool model's one engine actor
    assert len(stats[pool_name]["callers"]) == 2
    # (d) the `ray:` placement is what each actor asked Ray for
    assert all(s["resources"] == {"CPU": 0.25} for s in stats.values())

    # the cache keys are unchanged: the local runner finds every answer the engines gave
    # in the workers' cache shards, without loading the model
    here = _answer(tiny_model_dir, cache)
    assert run_stage(here, _rows(), progress=False).table.equals(local.table)
    assert all(s._backend._hf_model is None for s in here.sessions())

    # a stage that needs none of them releases them (their GPUs would be free for it)
    with ray_engines.engines_for([]) as held:
        assert held == 0
    assert ray_engines._STARTED == {}
    for name in handles:
        with pytest.raises(ValueError, match="Failed to look up actor"):
            ray_local.get_actor(name, namespace="caravan")


def test_a_placement_the_cluster_cannot_hold_fails_before_any_work(
    ray_local, tiny_model_dir, tmp_path
):
    from caravan import ray_executor

    llm = LLM(str(tiny_model_dir), "local", cache=False, placement={"num_gpus": 1})
    stage = Complete(llm=llm, max_tokens=5)
    with pytest.raises(CaravanError, match="asks for 1 GPU\\(s\\) .* the cluster has 0"):
        ray_executor.apply(_rows(2), stage, progress=False, workers=1)
    assert llm.engines is None


class _Direct:
    """An EngineActor in this process, called the way a Ray actor handle calls it."""

    def __init__(self, actor) -> None:
        self.actor = actor

    def __getattr__(self, name):
        return type("Method", (), {"remote": staticmethod(getattr(self.actor, name))})


class _NoRay:
    class exceptions:  # noqa: N801 - mimics the module
        RayActorError = ConnectionError

    @staticmethod
    def get(value):
        return value

    @staticmethod
    def get_runtime_context():
        return type("Context", (), {"get_assigned_resources": staticmethod(dict)})


def test_remote_backend_answers_and_fails_as_the_model_in_the_worker_would(
    tiny_model_dir, monkeypatch
):
    """No Ray: two EngineActors called directly stand in for the replicas."""
    from caravan.llm.backends.local import LocalBackend

    from caravan import ray_engines

    monkeypatch.setattr(ray_engines, "_ray", lambda: _NoRay)
    model = str(tiny_model_dir)
    replicas = [ray_engines.EngineActor("local", model, {"max_batch_size": 2}) for _ in range(2)]
    scopes = {r.ready() for r in replicas}
    here = LLM(model, "local", cache=False, progress=False, temperature=0, max_tokens=5,
               max_batch_size=2, concurrency=2)  # fmt: skip
    inputs = [{"id": f"r{i}", "prompt": f"Say {i}."} for i in range(5)]
    inputs.append(here.request("bad", "x", params={"n": 3}))  # the backend refuses n > 1
    there = LLM(model, "local", cache=False, progress=False, temperature=0, max_tokens=5,
                max_batch_size=2, concurrency=2)  # fmt: skip
    there.engines = ray_engines.RemoteBackend(
        "local", model, [_Direct(r) for r in replicas], scopes.pop(), 2
    )
    assert there.engines.cache_scope() == here.scope()

    def fields(responses):
        return [(r.request_id, r.text, r.error, r.error_kind) for r in responses]

    expected = fields(here.complete(inputs))
    assert fields(there.complete(inputs)) == expected
    assert "got n=3" in expected[-1][2] and expected[-1][3] == "request"
    assert all(text for _, text, _, _ in expected[:-1])
    # the batches went to both replicas, and neither loaded the model twice
    stats = [r.stats() for r in replicas]
    assert all(s["batches"] >= 1 and s["loads"] == 1 for s in stats)

    # any other failure reads the same too (its class name kept)
    def boom(self, requests):
        raise ValueError("out of luck")

    monkeypatch.setattr(LocalBackend, "complete_batch", boom)
    failed = fields(there.complete(inputs[:1]))
    assert failed == fields(here.complete(inputs[:1]))
    assert failed[0][2] == "request r0: ValueError: out of luck"
