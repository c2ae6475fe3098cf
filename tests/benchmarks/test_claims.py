"""The papers' claims and their verdicts: the criterion decides, not the benchmark's wording."""

import pytest

from benchmarks.claims import ANCHORS, CLAIMS, VERDICTS
from benchmarks.stats import estimate

NAV = CLAIMS["mocoda-nav2d"]


def arms(better, worse):
    return {"td3bc": {"mocoda-u": estimate(better), "emp": estimate(worse)}}


def test_nav2d_is_reproduced_only_with_intervals_that_straddle_the_authors_level():
    assert NAV.level == 20.3
    five_fast = [19.0, 19.5, 20.0, 19.2, 19.8]
    five_slow = [60.0, 70.0, 65.0, 58.0, 70.0]
    assert NAV.judge(arms(five_fast, five_slow)).outcome == "reproduced"
    # shorter than EMP but above the authors' 20.3: the direction, not the level
    near = [23.7, 23.9, 24.3, 24.0, 23.8]
    assert NAV.judge(arms(near, five_slow)).outcome == "direction only"
    # fewer than 5 seeds never reproduce: a range is not an interval
    verdict = NAV.judge(arms(five_fast[:3], five_slow[:3]))
    assert verdict.outcome == "direction only" and "range of 3 seeds" in verdict.detail
    assert NAV.judge(arms(five_slow, five_fast)).outcome == "not reproduced"


def test_a_tie_is_not_reproduced_and_the_worst_group_decides():
    csr = CLAIMS["csr-cartpole"]
    tie = {"task 2": {"csr": estimate([500.0] * 5), "dreamer": estimate([500.0] * 5)}}
    verdict = csr.judge(tie)
    assert verdict.outcome == "not reproduced" and "(tie)" in verdict.detail
    better = {"csr": estimate([500.0] * 5), "dreamer": estimate([390.0, 400.0, 405, 398, 396])}
    assert csr.judge({"task 3": better}).outcome == "reproduced"
    assert csr.judge({"task 3": better, **tie}).outcome == "not reproduced"


def test_hooksweep2_plus_ten_points_inside_the_noise_is_direction_only():
    claim = CLAIMS["mocoda-hooksweep2"]
    one_seed = {"td3bc": {"mocoda-p": estimate([0.15]), "emp": estimate([0.05])}}
    assert claim.judge(one_seed).outcome == "direction only"
    overlap = {
        "td3bc": {
            "mocoda-p": estimate([0.10, 0.20, 0.05, 0.30, 0.15]),
            "emp": estimate([0.05, 0.15, 0.00, 0.20, 0.10]),
        }
    }
    assert claim.judge(overlap).outcome == "direction only"


def test_every_claim_and_anchor_is_complete():
    assert VERDICTS == ("reproduced", "direction only", "not reproduced")
    for claim in CLAIMS.values():
        assert claim.source and claim.statement and claim.criterion
        assert claim.better in claim.criterion.lower() or claim.better.upper() in claim.criterion
    for anchor in ANCHORS.values():
        assert anchor.value and anchor.source and anchor.machine and anchor.compared
    assert "23.6 min" in ANCHORS["mocoda-nav2d-authors-train-time"].value
    with pytest.raises(KeyError):
        CLAIMS["no-such-claim"]
