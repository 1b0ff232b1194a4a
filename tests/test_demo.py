"""The on-device adaptation demo (eftrain.demo, ``eftrain train``)."""

from __future__ import annotations

import numpy as np

from eftrain import demo
from eftrain.cli import main


def test_domains_are_disjoint_real_digits_and_really_shifted():
    d = demo.digits_domains(seed=1, adapt_per_class=5)
    total = d.base_x.shape[0] + d.old_test_x.shape[0] + d.adapt_x.shape[0] + d.new_test_x.shape[0]
    assert total == 1797                                     # every image used once
    assert np.bincount(d.adapt_y, minlength=10).tolist() == [5] * 10
    for a in (d.base_x, d.old_test_x, d.adapt_x, d.new_test_x):
        assert a.dtype == np.float32 and a.shape[1:] == (1, 8, 8) and a.min() >= 0 and a.max() <= 1
    # the new writer's strokes are bolder (more ink) and slanted (ink moves right at the top)
    assert d.adapt_x.mean() > 1.1 * d.base_x.mean()
    top = d.new_test_x[:, 0, :2].sum(axis=1)
    cols = np.arange(8)
    base_top = d.base_x[:, 0, :2].sum(axis=1)
    assert (top * cols).sum() / top.sum() > (base_top * cols).sum() / base_top.sum() + 0.3


def test_adaptation_improves_the_new_user(tmp_path):
    res = demo.run("ci", "golden", epochs=3, base_epochs=6, adapt_per_class=10, png=tmp_path / "a.png",
                   progress=False)
    assert res.acc_new_after > res.acc_new_before + 0.15
    assert res.acc_old_before > 0.85
    assert len(res.device_losses) == 3 * (100 // 16)
    assert (tmp_path / "a.png").stat().st_size > 10_000
    text = demo.format_report(res)
    assert "new user" in text and "Conv2d" in text and "BatchNorm2d" in text
    st = res.stats
    assert st["cycles"] == sum(sum(v.values()) for v in st["layers"].values()) > 0


def test_cli_train_help(capsys):
    try:
        main(["train", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "--backend" in capsys.readouterr().out
