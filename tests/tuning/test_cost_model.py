"""The XGBoost cost model is trained and ranks candidates during a short tune, and it is saved
beside the records to warm-start the next tune (which then ranks from its first batch)."""

from __future__ import annotations

import pytest

from ember.compiler.tuning import store, tuner
from ember.compiler.tuning.tuner import TuneConfig

from .helpers import record_lines, softmax_model

pytestmark = [pytest.mark.tuning, pytest.mark.slow]


@pytest.fixture()
def spies(monkeypatch):
    """Count `xgboost.train` calls and the predictions XGBoost (not chance) makes."""
    import xgboost
    from tvm.s_tir.meta_schedule.cost_model import XGBModel

    calls = {"train": 0, "ranked": 0}
    real_train, real_predict = xgboost.train, XGBModel._cls._predict

    def train(*args, **kwargs):
        calls["train"] += 1
        return real_train(*args, **kwargs)

    def predict(self, *args, **kwargs):  # only reached once warm-up is over
        calls["ranked"] += 1
        return real_predict(self, *args, **kwargs)

    monkeypatch.setattr(xgboost, "train", train)
    monkeypatch.setattr(XGBModel._cls, "_predict", predict)
    return calls


def test_xgboost_is_trained_ranks_candidates_and_warm_starts(tmp_path, spies):
    path = tmp_path / "store"
    config = TuneConfig(
        model=str(softmax_model(tmp_path)),
        target="x86",
        trials=8,
        records=str(path),
        trials_per_batch=4,
        population=64,
        # A batch can measure fewer candidates than asked (the search drops duplicates: 3 of 4
        # seen), so the warm-up is half a batch: the second batch is ranked by XGBoost whenever
        # the first measured at least two.
        warmup_samples=2,
    )
    events = []
    tuner.run_tune(config, events.append)
    assert len(record_lines(path)) == 8
    assert spies["train"] >= 1, "XGBoost was never trained"
    assert spies["ranked"] >= 1, "XGBoost never ranked a candidate (all random)"
    assert (path / store.COST_MODEL_FILE).is_file()
    assert [e["event"] for e in events][-2:] == ["final", "end"]

    warm = []
    model = tuner._cost_model(config, path, warm.append)
    assert warm and warm[0]["event"] == "warm_start" and warm[0]["samples"] >= 4
    assert model.data_size >= config.warmup_samples and model.booster is not None
