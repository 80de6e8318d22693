"""Series identity collisions are refused; matchers are answered from the series index."""

from __future__ import annotations

import numpy as np
import pytest

import promlake
from promlake.engine import SeriesBatch
from promlake.engine import labels as labels_mod
from promlake.engine.errors import SeriesCollisionError
from promlake.engine.matchers import compile_matcher


def _append(lake, sets, ts=1000):
    app = lake.appender()
    app.append(SeriesBatch.from_dicts(sets), np.arange(len(sets)), np.full(len(sets), ts), np.ones(len(sets)))
    return app.commit()


def test_two_label_sets_with_one_id_are_refused(tmp_path, monkeypatch):
    lake = promlake.open(tmp_path)
    _append(lake, [{"__name__": "a"}])
    lake.flush()
    forced = int(lake.index.sids[0])
    # Make every label set hash to the stored id: only the second hash tells them apart.
    monkeypatch.setattr(labels_mod.SeriesBatch, "series_ids", lambda self: np.full(self.n_series, forced, np.int64))
    with pytest.raises(SeriesCollisionError, match="series id collision"):
        _append(lake, [{"__name__": "b"}])
    with pytest.raises(SeriesCollisionError, match="two label sets hash to"):
        _append(lake, [{"__name__": "c"}, {"__name__": "d"}])
    monkeypatch.undo()
    assert lake.sql("SELECT count(*) AS n FROM samples")["n"][0] == 1
    # The same label set again is not a collision.
    _append(lake, [{"__name__": "a"}], ts=2000)
    lake.close()


def test_matchers_select_from_head_and_blocks_and_survive_restart(tmp_path):
    lake = promlake.open(tmp_path)
    _append(lake, [{"__name__": "up", "job": "node", "instance": f"h{i}"} for i in range(5)])
    lake.flush()
    _append(lake, [{"__name__": "up", "job": "api", "instance": "h9"}, {"__name__": "other", "job": "node"}])

    def select(*ms):
        ids = lake.index.select([compile_matcher(*m) for m in ms])
        rows = lake.index.labels_of(ids).to_pylist()
        return sorted({r["value"] for r in rows if r["name"] == "instance"} | ({"-"} if any(
            r["name"] == "__name__" and r["value"] == "other" for r in rows) else set()))

    assert select(("__name__", "=", "up"), ("job", "=", "node")) == ["h0", "h1", "h2", "h3", "h4"]
    assert select(("__name__", "=", "up"), ("instance", "=~", "h[09]")) == ["h0", "h9"]
    assert select(("job", "=", "node"), ("instance", "=", "")) == ["-"]
    lake.close()
    lake = promlake.open(tmp_path, readonly=True)
    assert select(("__name__", "=~", "up|other"), ("job", "!=", "node")) == ["h9"]
    lake.close()
