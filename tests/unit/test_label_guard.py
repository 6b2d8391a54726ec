"""The label guard: a labeller who disagrees with the others, or supplies too much of a retraining's new
labels, is flagged, alerted on and held out of training; honest moderators are left alone."""

import random
from datetime import timedelta
from statistics import NormalDist
from uuid import UUID

import pytest
from sklearn.metrics import roc_auc_score

from contracts.chat import label_of
from contracts.policy import Thresholds
from contracts.storage import ModeratorDecision
from contracts.verdict import Action, CategoryScore, Verdict
from monitoring.labels import (
    POOLED,
    Judgement,
    LabelAudit,
    LabelGuardPolicy,
    audit_labels,
    decision_key,
    kept_decisions,
)
from tests.builders import NOW, verdict
from training.corpora import join_feedback

THEN = NOW + timedelta(days=1)  # decisions come after the verdicts they decide on (processed at NOW)
LATER = THEN + timedelta(days=30)  # the audit's time
POLICY = LabelGuardPolicy()


def moderated(
    n: int, model_right: float, seed: int = 1, labellers: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5")
) -> tuple[list[ModeratorDecision], dict[UUID, Verdict]]:
    """`n` messages the model scored, each decided by one of `labellers` (a shared queue) on its truth;
    the model's score falls on the truth's side of 0.5 on `model_right` of them."""
    rng = random.Random(seed)
    decisions, verdicts = [], {}
    for i in range(n):
        truth = rng.random() < 0.4
        leans = truth if rng.random() < model_right else not truth
        v = verdict(score=rng.uniform(0.5, 1.0) if leans else rng.uniform(0.0, 0.5))
        verdicts[v.message_id] = v
        decisions.append(
            ModeratorDecision(
                message_id=v.message_id,
                label="remove" if truth else "allow",
                decided_by=labellers[i % len(labellers)],
                decided_at=THEN + timedelta(seconds=i),
            )
        )
    return decisions, verdicts


def judged(audit: LabelAudit, category: str = "removal") -> dict[str, Judgement]:
    """Each labeller's judgement in one category."""
    return {j.labeller: j for j in audit.judgements if j.category == category}


def flipped(decisions: list[ModeratorDecision], who: str) -> list[ModeratorDecision]:
    """`who` labels every message the opposite of its truth."""
    return [
        d.model_copy(update={"label": "allow" if d.label == "remove" else "remove"})
        if d.decided_by == who
        else d
        for d in decisions
    ]


def test_honest_moderators_are_not_flagged_even_where_the_model_reads_badly() -> None:
    for model_right in (0.85, 0.55):  # a community the model knows, and one it barely reads
        decisions, verdicts = moderated(1000, model_right)
        audit = audit_labels(decisions, verdicts, None, POLICY, now=LATER)
        assert audit.alerts == []
        assert audit.held_out == []
        assert {a.labeller: a.flags for a in audit.labellers} == {f"m{i}": [] for i in range(1, 6)}
        assert kept_decisions(decisions, audit) == decisions


def test_a_moderator_who_flips_labels_is_flagged_and_held_out() -> None:
    decisions, verdicts = moderated(1000, 0.85)
    poisoned = flipped(decisions, "m3")
    audit = audit_labels(poisoned, verdicts, None, POLICY, now=LATER)
    by = {a.labeller: a for a in audit.labellers}
    assert by["m3"].flags == ["disagreement"]
    m3 = judged(audit)["m3"]
    assert m3.flag == "disagreement"
    assert m3.model_auc is not None
    assert m3.model_auc < 0.3
    assert m3.others_model_auc is not None
    assert m3.others_model_auc > 0.8
    assert (by["m3"].held_out, m3.held_out) == (200, 200)
    assert [a.labeller for a in audit.labellers if a.flags] == ["m3"]
    (line,) = audit.alerts
    assert line.startswith("m3: the model ranks their 200 decisions at ROC-AUC 0.")
    assert "held out" in line
    kept = kept_decisions(poisoned, audit)
    assert len(kept) == 800
    assert all(d.decided_by != "m3" for d in kept)


def test_a_moderator_who_labels_as_the_model_scored_is_flagged_as_a_rubber_stamp_and_held_out() -> None:
    # GIVEN five moderators, m3 labelling every message as the model leans (remove from 0.5) instead of
    # reading it: it learns the model nothing but its own errors (about 15% of them here)
    decisions, verdicts = moderated(1000, 0.85)
    stamped = [
        d.model_copy(update={"label": "remove" if (verdicts[d.message_id].score or 0.0) >= 0.5 else "allow"})
        if d.decided_by == "m3"
        else d
        for d in decisions
    ]
    audit = audit_labels(stamped, verdicts, None, POLICY, now=LATER)
    # THEN the model ranks m3's decisions perfectly, far above the others': flagged, all 200 held out
    m3 = judged(audit)["m3"]
    assert (m3.model_auc, m3.flag, m3.held_out) == (1.0, "rubber-stamp", 200)
    assert m3.z is not None
    assert m3.z < -POLICY.min_z
    assert [a.labeller for a in audit.labellers if a.flags] == ["m3"]
    assert {a.labeller: a.flags for a in audit.labellers}["m3"] == ["rubber-stamp"]
    (line,) = audit.alerts
    assert line.startswith("m3: the model ranks their 200 decisions at ROC-AUC 1.00, the others' at 0.8")
    assert "rubber-stamp" in line


def test_a_labeller_whose_few_decisions_the_model_happens_to_rank_perfectly_is_not_a_rubber_stamp() -> None:
    # GIVEN five honest moderators, and 40 of their messages where the model leaned the right way, decided
    # (honestly) by a sixth: the model ranks its decisions perfectly, by chance
    decisions, verdicts = moderated(2000, 0.85)
    right = [d for d in decisions if ((verdicts[d.message_id].score or 0.0) >= 0.5) == (d.label == "remove")]
    lucky = {d.message_id for d in right[:40]}
    decisions = [
        d.model_copy(update={"decided_by": "lucky"}) if d.message_id in lucky else d for d in decisions
    ]
    audit = audit_labels(decisions, verdicts, None, POLICY, now=LATER)
    # THEN a perfect AUC on 40 decisions is not proof: nobody is flagged
    assert judged(audit)["lucky"].model_auc == 1.0
    assert [j.labeller for j in audit.judgements if j.flag] == []


def test_a_partial_flipper_beside_a_full_one_is_compared_with_the_honest_labellers_and_flagged() -> None:
    # GIVEN five moderators' 3,000 decisions: m3 flips every label, m2 35% of its own
    decisions, verdicts = moderated(3000, 0.85)
    rng = random.Random(3)
    poisoned = [
        d.model_copy(update={"label": "allow" if d.label == "remove" else "remove"})
        if d.decided_by == "m2" and rng.random() < 0.35
        else d
        for d in flipped(decisions, "m3")
    ]
    audit = audit_labels(poisoned, verdicts, None, POLICY, now=LATER)
    # THEN both are flagged: m2 is compared with the three honest (beside m3 the others' AUC falls
    # within the gap of m2's); and the honest three are not rubber stamps beside them
    assert [(j.labeller, j.flag) for j in audit.judgements if j.flag] == [
        ("m2", "disagreement"),
        ("m3", "disagreement"),
    ]
    others = judged(audit)["m2"].others_model_auc
    assert others is not None
    assert others > 0.8


def test_honest_labellers_beside_two_partial_flippers_are_not_taken_for_rubber_stamps() -> None:
    # GIVEN five moderators' 3,000 decisions, m2 and m3 each flipping 30% of theirs: every other labeller's
    # pooled AUC falls to about 0.73
    decisions, verdicts = moderated(3000, 0.85, seed=0)
    rng = random.Random(0)
    poisoned = [
        d.model_copy(update={"label": "allow" if d.label == "remove" else "remove"})
        if d.decided_by in ("m2", "m3") and rng.random() < 0.3
        else d
        for d in decisions
    ]
    audit = audit_labels(poisoned, verdicts, None, POLICY, now=LATER)
    # THEN the honest three are compared with each other, not with the flippers, and none is flagged
    assert {j.labeller for j in audit.judgements if j.flag} <= {"m2", "m3"}
    for honest in ("m1", "m4", "m5"):
        others = judged(audit)[honest].others_model_auc
        assert others is not None
        assert others > 0.8


def test_four_flippers_of_five_are_flagged_the_model_being_the_witness() -> None:
    # GIVEN five moderators, four of whom flip every label
    decisions, verdicts = moderated(3000, 0.85)
    poisoned = flipped(flipped(flipped(flipped(decisions, "m1"), "m2"), "m3"), "m4")
    audit = audit_labels(poisoned, verdicts, None, POLICY, now=LATER)
    # THEN the others they are compared with are the one labeller the model agrees with: all four are
    # flagged, only m5's labels are learnt
    assert [(j.labeller, j.flag) for j in audit.judgements if j.flag] == [
        (f"m{i}", "disagreement") for i in range(1, 5)
    ]
    assert kept_decisions(poisoned, audit) == [d for d in decisions if d.decided_by == "m5"]


def test_a_moderator_who_flips_a_few_labels_is_within_the_gap() -> None:
    decisions, verdicts = moderated(1000, 0.85)
    rng = random.Random(2)
    sloppy = [
        d.model_copy(update={"label": "allow" if d.label == "remove" else "remove"})
        if d.decided_by == "m2" and rng.random() < 0.1
        else d
        for d in decisions
    ]
    assert audit_labels(sloppy, verdicts, None, POLICY, now=LATER).held_out == []


def test_one_labeller_above_the_share_of_new_labels_is_capped_and_alerted() -> None:
    # GIVEN 300 older labels shared by five, then 200 new ones of which m1 made 150 (75%)
    old, verdicts = moderated(300, 0.85)
    since = THEN + timedelta(days=1)
    fresh, more = moderated(200, 0.85, seed=2, labellers=("m1", "m1", "m1", "m2"))
    fresh = [
        d.model_copy(update={"decided_at": since + timedelta(seconds=i + 1)}) for i, d in enumerate(fresh)
    ]
    audit = audit_labels(old + fresh, verdicts | more, since, POLICY, now=LATER)
    by = {a.labeller: a for a in audit.labellers}
    assert audit.new == 200
    assert by["m1"].flags == ["share"]
    assert by["m1"].share == 0.75
    assert by["m2"].flags == []
    # THEN m1 keeps as many new labels as make 40% beside m2's 50: 33; the other 117 are held out
    assert by["m1"].held_out == 117
    kept_new = list(kept_decisions(fresh, audit))
    assert sum(d.decided_by == "m1" for d in kept_new) / len(kept_new) <= POLICY.max_share
    assert all(key.endswith("/removal/m1") for key in audit.held_out)
    (line,) = audit.alerts
    assert line == "m1 supplied 75% of 200 new labels (> 40%): 117 held out"
    # AND the same ones on every run
    assert audit_labels(old + fresh, verdicts | more, since, POLICY, now=LATER).held_out == audit.held_out


def test_a_labeller_the_operator_accepted_keeps_every_label_with_the_decision_recorded() -> None:
    decisions, verdicts = moderated(200, 0.85, labellers=("solo",))
    audit = audit_labels(
        decisions, verdicts, None, POLICY.model_copy(update={"accepted": ("solo",)}), now=LATER
    )
    assert audit.held_out == []
    assert audit.alerts == ["solo supplied 100% of 200 new labels (> 40%): accepted by the policy, all kept"]
    assert audit.labellers[0].flags == ["share"]


@pytest.mark.parametrize("n", [50, 99])
def test_shares_are_not_judged_on_a_handful_of_new_labels(n: int) -> None:
    decisions, verdicts = moderated(n, 0.85, labellers=("solo",))
    assert audit_labels(decisions, verdicts, None, POLICY, now=LATER).alerts == []


def test_labels_held_out_once_stay_held_out() -> None:
    decisions, verdicts = moderated(300, 0.85)
    earlier = [decision_key(decisions[0]), decision_key(decisions[1])]
    audit = audit_labels(decisions, verdicts, None, POLICY, held_before=earlier, now=LATER)
    assert audit.held_out == sorted(earlier)
    assert len(kept_decisions(decisions, audit)) == 298


def learnt(decisions: list[ModeratorDecision], audit: LabelAudit) -> dict[str, str]:
    """The label the retraining learns for each message and category: the latest decision the guard kept,
    as the caller resolves them."""
    rows, unknown = join_feedback(
        kept_decisions(decisions, audit), {d.message_id: str(d.message_id) for d in decisions}
    )
    assert unknown == 0
    return {f"{r.text}/{c}": label_of(y) for r in rows for c, y in r.labels.items()}


def test_a_later_decision_on_the_same_message_replaces_the_earlier() -> None:
    decisions, verdicts = moderated(300, 0.85)
    again = [
        d.model_copy(update={"decided_by": "m9", "decided_at": d.decided_at + timedelta(days=1)})
        for d in flipped(decisions, "m1")  # m9 re-decides every message, m1's the other way
    ]
    audit = audit_labels(
        decisions + again, verdicts, None, POLICY.model_copy(update={"max_share": 1.0}), now=LATER
    )
    # THEN one label per message is learnt, m9's; AND every labeller is judged on each decision they made
    # (if a later decision is held out, the earlier one is learnt)
    assert audit.decisions == 300
    judged = {a.labeller: a.decisions for a in audit.labellers}
    assert judged == {"m1": 60, "m2": 60, "m3": 60, "m4": 60, "m5": 60, "m9": 300}
    assert learnt(decisions + again, audit) == {decision_key(d): d.label for d in again}


def test_holding_out_a_flagged_labeller_leaves_the_honest_decisions_it_replaced_to_be_learnt() -> None:
    # GIVEN 3,000 honest decisions, and a labeller who re-decides 600 of them a day later, every one flipped
    decisions, verdicts = moderated(3000, 0.85)
    again = [
        d.model_copy(
            update={
                "decided_by": "m9",
                "label": "allow" if d.label == "remove" else "remove",
                "decided_at": d.decided_at + timedelta(days=1),
            }
        )
        for d in decisions[:600]
    ]
    audit = audit_labels(decisions + again, verdicts, None, POLICY, now=LATER)
    # THEN m9 is flagged and held out, and nobody else
    assert [a.labeller for a in audit.labellers if a.flags] == ["m9"]
    assert len(audit.held_out) == 600
    # AND the 600 honest labels it re-decided are still learnt: all 3,000 as the honest labellers decided
    assert learnt(decisions + again, audit) == {decision_key(d): d.label for d in decisions}


def test_decisions_dated_after_the_audit_are_held_out_and_the_honest_ones_they_replaced_are_learnt() -> None:
    # GIVEN 1,000 honest decisions; m9 re-decides 20 of them the other way, dated ten years ahead (too
    # few to be judged), and m8 re-decides 20 others honestly, dated a minute ahead (a clock's skew)
    decisions, verdicts = moderated(1000, 0.85)
    ahead = [
        d.model_copy(update={"decided_by": "m9", "decided_at": LATER + timedelta(days=3653)})
        for d in flipped(decisions[:20], decisions[0].decided_by)
    ]
    skewed = [
        d.model_copy(update={"decided_by": "m8", "decided_at": LATER + timedelta(minutes=1)})
        for d in decisions[20:40]
    ]
    audit = audit_labels(decisions + ahead + skewed, verdicts, None, POLICY, now=LATER)
    # THEN m9's are held out, counted, alerted on; m8's are not
    by = {a.labeller: a for a in audit.labellers}
    assert audit.future == 20
    assert (by["m9"].flags, by["m9"].future, by["m9"].held_out) == (["future"], 20, 20)
    assert (by["m8"].flags, by["m8"].held_out) == ([], 0)
    assert audit.alerts == [
        "20 decisions of 1 labellers dated after the audit's time (more than 300 s ahead): held out"
    ]
    # AND the honest labels m9 re-decided are learnt, m8's where m8 decided
    learnt_labels = learnt(decisions + ahead + skewed, audit)
    assert learnt_labels == {decision_key(d): d.label for d in decisions}
    assert kept_decisions(skewed, audit) == skewed


def test_decisions_backdated_before_the_last_retraining_are_still_new_if_their_messages_are() -> None:
    # GIVEN 300 labels from before the last retraining, then 200 messages judged after it, of which m1
    # decided 150 but dated them a week before the retraining
    old, verdicts = moderated(300, 0.85)
    since = THEN + timedelta(days=1)
    fresh, more = moderated(200, 0.85, seed=2, labellers=("m1", "m1", "m1", "m2"))
    more = {i: v.model_copy(update={"processed_at": since + timedelta(minutes=1)}) for i, v in more.items()}
    fresh = [
        d.model_copy(update={"decided_at": since - timedelta(days=7) if d.decided_by == "m1" else LATER})
        for d in fresh
    ]
    audit = audit_labels(old + fresh, verdicts | more, since, POLICY, now=LATER)
    # THEN their labels count as new (a decision is not older than its message's verdict): m1 supplied 75%
    assert audit.new == 200
    by = {a.labeller: a for a in audit.labellers}
    assert (by["m1"].new, by["m1"].flags, by["m1"].held_out) == (150, ["share"], 117)


def test_a_flipper_is_found_by_ranks_where_the_model_is_miscalibrated() -> None:
    # GIVEN a community where every score of the model sits below 0.5, yet still ranks the messages
    decisions, verdicts = moderated(1000, 0.85)
    low = {i: v.model_copy(update={"score": (v.score or 0.0) * 0.4}) for i, v in verdicts.items()}
    # THEN the moderator who flips labels is still the one flagged
    audit = audit_labels(flipped(decisions, "m4"), low, None, POLICY, now=LATER)
    assert [a.labeller for a in audit.labellers if a.flags] == ["m4"]


def test_each_labellers_and_the_others_auc_are_the_ones_their_decisions_give() -> None:
    # GIVEN scores with ties and labellers of very different sizes
    decisions, verdicts = moderated(600, 0.8, labellers=("a", "b", "b", "c", "c", "c"))
    coarse = {i: v.model_copy(update={"score": round(v.score or 0.0, 1)}) for i, v in verdicts.items()}
    audit = audit_labels(decisions, coarse, None, POLICY, now=LATER)
    for row in audit.judgements:
        mine = [d for d in decisions if d.decided_by == row.labeller]
        others = [d for d in decisions if d.decided_by != row.labeller]
        for got, group in ((row.model_auc, mine), (row.others_model_auc, others)):
            y = [d.label == "remove" for d in group]
            assert got == round(roc_auc_score(y, [coarse[d.message_id].score for d in group]), 4)


def test_hundreds_of_honest_labellers_are_not_flagged_by_chance_and_a_flipper_among_them_is() -> None:
    # GIVEN 500 honest labellers with 40 decisions each (many chances for one to look off)
    team = tuple(f"a{i}" for i in range(500))
    decisions, verdicts = moderated(20_000, 0.85, seed=4, labellers=team)
    # THEN none is flagged; AND one who flips every label is
    assert audit_labels(decisions, verdicts, None, POLICY, now=LATER).held_out == []
    audit = audit_labels(flipped(decisions, "a7"), verdicts, None, POLICY, now=LATER)
    assert [a.labeller for a in audit.labellers if a.flags] == ["a7"]


def test_small_and_unnamed_labellers_are_judged_as_one_sybils_are_flagged_an_honest_crowd_is_not() -> None:
    # GIVEN five moderators' 3,000 honest decisions and a crowd of 100 honest labellers of 10 decisions each
    decisions, verdicts = moderated(3000, 0.85)
    crowd, more = moderated(1000, 0.85, seed=6, labellers=tuple(f"h{i}" for i in range(100)))
    pool = POOLED.format(POLICY.min_decisions)
    # THEN nobody is flagged: the crowd is judged as one labeller, and ranks like the five
    honest = audit_labels(decisions + crowd, verdicts | more, None, POLICY, now=LATER)
    assert honest.held_out == []
    assert (judged(honest)[pool].labellers, judged(honest)[pool].decisions) == (100, 1000)
    # WHEN 40 ids decide 29 of the five's messages each and an unnamed one 40, every label flipped
    sybils = [
        d.model_copy(
            update={
                "decided_by": f"s{i // 29}" if i < 1160 else "",
                "label": "allow" if d.label == "remove" else "remove",
            }
        )
        for i, d in enumerate(decisions[:1200])
    ]
    poisoned = sybils + decisions[1200:] + crowd
    audit = audit_labels(poisoned, verdicts | more, None, POLICY, now=LATER)
    # THEN the pool is flagged and every decision in it is held out, the crowd's with the sybils': the
    # five's 1,800 labels are learnt, none of the 1,200 flipped ones
    flagged = [(j.labeller, j.labellers, j.flag) for j in audit.judgements if j.flag]
    assert flagged == [(pool, 141, "disagreement")]
    assert len(audit.held_out) == 1200 + 1000
    assert all(a.flags == ["disagreement"] for a in audit.labellers if a.labeller[:1] in ("s", "h", ""))
    assert kept_decisions(poisoned, audit) == decisions[1200:]


def test_the_z_bar_is_raised_for_two_tests_per_labeller_and_category_judged() -> None:
    # GIVEN five moderators judged in two categories, and one labeller of ten decisions (pooled, a pool
    # too small to be judged)
    removal, verdicts = moderated(1000, 0.85)
    hate, more = moderated(500, 0.85, seed=5)
    tiny, few = moderated(10, 0.85, seed=6, labellers=("tiny",))
    hate = [d.model_copy(update={"category": "hate"}) for d in hate]
    audit = audit_labels(removal + hate + tiny, verdicts | more | few, None, POLICY, now=LATER)
    # THEN the bar is the z whose one-sided chance is min_z's divided by 2 × 10 tests (below and above)
    assert len(audit.judgements) == 11
    expected = NormalDist().inv_cdf(1 - (1 - NormalDist().cdf(POLICY.min_z)) / 20)
    assert audit.z_bar == round(expected, 2)


def _perfect(n: int, flipper: str) -> tuple[list[ModeratorDecision], dict[UUID, Verdict]]:
    """Easy data: the model's score is 0.9 on every message whose truth is remove, 0.1 on the others;
    `flipper` labels every one of theirs the opposite way."""
    decisions, verdicts = [], {}
    for i in range(n):
        truth = i % 3 == 0
        v = verdict(score=0.9 if truth else 0.1)
        verdicts[v.message_id] = v
        decisions.append(
            ModeratorDecision(
                message_id=v.message_id,
                label="remove" if truth else "allow",
                decided_by=f"m{1 + i % 5}",
                decided_at=THEN + timedelta(seconds=i),
            )
        )
    return flipped(decisions, flipper), verdicts


def test_a_flipper_the_model_ranks_perfectly_wrong_beside_perfect_others_is_flagged() -> None:
    # GIVEN 1,000 decisions the model ranks perfectly, one moderator's 200 all flipped (both AUCs exact:
    # Hanley-McNeil gives them no variance)
    decisions, verdicts = _perfect(1000, "m3")
    # WHEN audited
    audit = audit_labels(decisions, verdicts, None, POLICY, now=LATER)
    # THEN certainty is not doubt: the flipper is flagged and all of theirs held out, nobody else
    by = {a.labeller: a for a in audit.labellers}
    assert (judged(audit)["m3"].model_auc, judged(audit)["m3"].others_model_auc) == (0.0, 1.0)
    assert by["m3"].flags == ["disagreement"]
    assert {k for k, a in by.items() if a.flags} == {"m3"}
    assert len(audit.held_out) == 200


def test_a_perfect_disagreement_on_a_handful_of_decisions_is_not_certainty() -> None:
    # GIVEN the same easy data with the minimum lowered, a labeller of three decisions all flipped
    decisions, verdicts = _perfect(1000, "none")
    few = flipped([d.model_copy(update={"decided_by": "new"}) for d in decisions[:3]], "new")
    policy = POLICY.model_copy(update={"min_decisions": 1})
    audit = audit_labels([*few, *decisions[3:]], verdicts, None, policy, now=LATER)
    # THEN its z stays finite and under the bar: three pairs are not proof
    new = judged(audit)["new"]
    assert new.z is not None
    assert new.z < POLICY.min_z
    assert new.flag is None


def test_a_labeller_who_flips_one_category_is_judged_in_it_and_held_out_of_it_only() -> None:
    # GIVEN five moderators' 2,000 honest removal decisions (400 each) and 300 hate decisions (60 each),
    # m3 labelling every one of its hate decisions the other way (13% of its decisions)
    removal, verdicts = moderated(2000, 0.85)
    hate, more = moderated(300, 0.85, seed=5)
    hate = flipped([d.model_copy(update={"category": "hate"}) for d in hate], "m3")
    audit = audit_labels(removal + hate, verdicts | more, None, POLICY, now=LATER)
    # THEN m3 is flagged in hate, not in removal, and only its 60 hate labels are held out
    assert judged(audit, "hate")["m3"].flag == "disagreement"
    assert judged(audit)["m3"].flag is None
    assert [(j.labeller, j.category) for j in audit.judgements if j.flag] == [("m3", "hate")]
    assert len(audit.held_out) == 60
    assert all(key.endswith("/hate/m3") for key in audit.held_out)
    assert kept_decisions(removal + hate, audit) == removal + [d for d in hate if d.decided_by != "m3"]


def test_labels_held_before_stay_held_when_another_labeller_is_flagged_now() -> None:
    # GIVEN two honest labels held out by an earlier retraining, and a flipper among the labellers now
    decisions, verdicts = moderated(1000, 0.85)
    poisoned = flipped(decisions, "m3")
    earlier = [decision_key(d) for d in poisoned if d.decided_by == "m1"][:2]
    audit = audit_labels(poisoned, verdicts, None, POLICY, held_before=earlier, now=LATER)
    # THEN the flipper's labels join the held ones, which stay held
    assert [a.labeller for a in audit.labellers if a.flags] == ["m3"]
    assert set(earlier) <= set(audit.held_out)
    assert len(audit.held_out) == 200 + 2


def test_a_labeller_with_exactly_the_minimum_of_decisions_is_judged() -> None:
    # GIVEN a flipper with 200 decisions, judged with the minimum at exactly 200, then at 201
    decisions, verdicts = moderated(1000, 0.85)
    poisoned = flipped(decisions, "m3")
    at = audit_labels(poisoned, verdicts, None, LabelGuardPolicy(min_decisions=200), now=LATER)
    above = audit_labels(poisoned, verdicts, None, LabelGuardPolicy(min_decisions=201), now=LATER)
    # THEN at the minimum the flipper is flagged; one short of it, not judged
    assert [a.labeller for a in at.labellers if a.flags] == ["m3"]
    assert [a.labeller for a in above.labellers if a.flags] == []


def test_a_decision_is_judged_by_the_score_of_the_category_it_decides() -> None:
    # GIVEN verdicts whose overall score is another category's, and decisions on `toxicity` that agree with
    # its own score and disagree with the overall one
    decisions, verdicts = moderated(1000, 0.85)
    rescored = {}
    for mid, v in verdicts.items():
        toxicity = CategoryScore(
            score=v.score or 0.0, acts=True, thresholds=Thresholds(), action=Action.ALLOW
        )
        rescored[mid] = v.model_copy(
            update={"score": 1 - (v.score or 0.0), "categories": {"toxicity": toxicity}}
        )
    on_toxicity = [d.model_copy(update={"category": "toxicity"}) for d in decisions]
    # THEN nobody is flagged: the model ranks every labeller's toxicity decisions well
    audit = audit_labels(on_toxicity, rescored, None, POLICY, now=LATER)
    assert [a.labeller for a in audit.labellers if a.flags] == []
    assert all(j.model_auc is not None and j.model_auc > 0.8 for j in audit.judgements)
