"""`python -m monitoring`'s own parsing and printing of the live promotion and canary checks."""

import argparse

import pytest

from monitoring.canary import CanaryResult, StepAction
from monitoring.cli import print_check, share, shares
from monitoring.live_flow import live_promotion_flow


def test_steps_are_shares_of_channels_each_in_zero_to_one() -> None:
    assert shares("0.1,0.5,1") == [0.1, 0.5, 1.0]
    assert shares("0.5") == [0.5]
    for bad in ("0,0.5", "0.5,1.5", "-0.1", "half", "", "nan", "inf", ",".join(["0.5"] * 5_000) + ",2"):
        with pytest.raises(argparse.ArgumentTypeError):
            shares(bad)


def test_a_canary_share_out_of_range_is_refused_before_any_evidence_is_read() -> None:
    assert share("0.1") == 0.1
    for bad in ("0", "1.01", "nan", "x" * 10_000):
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            share(bad)
        assert len(str(refused.value)) < 100  # the value quoted, cut short
    # the flow itself, called with it: refused before its settings are even read (nothing tagged)
    with pytest.raises(ValueError, match="share of channels"):
        live_promotion_flow.fn(canary_share=1.5)


def test_a_check_prints_as_json_or_as_a_headline_with_a_line_per_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    result = CanaryResult(
        canary="2",
        champion="1",
        share_before=0.5,
        action=StepAction.WIDEN,
        share_after=1.0,
        reasons=["removal: +0.1", "identity: fine"],
    )
    assert print_check(result, True, "headline", result.reasons) == 0
    assert CanaryResult.model_validate_json(capsys.readouterr().out) == result
    assert print_check(result, False, "canary 2: widen", result.reasons) == 0
    assert capsys.readouterr().out.splitlines() == ["canary 2: widen", "  removal: +0.1", "  identity: fine"]
