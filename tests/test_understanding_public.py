"""The public-corpus benchmark: loaders, the label mapping, sampling and the scores.

The corpora are not in the repository (see docs/understanding_public.md), so these tests
run the benchmark's real code on small files in the corpora's formats, written here.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import understanding_public as up  # noqa: E402

from dialog_gym.understanding import Lexicon  # noqa: E402

#: the act inventory of SGD (README of the dataset): system and user acts
SGD_SYSTEM_ACTS = ["INFORM", "REQUEST", "CONFIRM", "OFFER", "NOTIFY_SUCCESS", "NOTIFY_FAILURE",
                   "INFORM_COUNT", "OFFER_INTENT", "REQ_MORE", "GOODBYE"]
SGD_USER_ACTS = ["INFORM_INTENT", "NEGATE_INTENT", "AFFIRM_INTENT", "INFORM", "REQUEST",
                 "AFFIRM", "NEGATE", "SELECT", "REQUEST_ALTS", "THANK_YOU", "GOODBYE"]
#: the eight ESConv strategies, in the spellings of ESConv.json and of the split files,
ESCONV_STRATEGIES = ["Question", "Questions", "Restatement or Paraphrasing",
                     "Reflection of feelings", "Self-disclosure", "Affirmation and Reassurance",
                     "Providing Suggestions", "Information", "Others", "Other",
                     # older labels found in FailedESConv.json
                     "Direct Guidance", "Approval and Reassurance", "Restatement"]


def _act(act, slot="", values=()):
    return {"act": act, "slot": slot, "values": list(values), "canonical_values": []}


def _turn(speaker, service, text, actions, results=()):
    frame = {"service": service, "actions": actions, "slots": []}
    if results:
        frame["service_results"] = list(results)
    return {"speaker": speaker, "utterance": text, "frames": [frame]}


def _sgd_dialogues():
    r = "Restaurants_2"
    return [
        {"dialogue_id": "1_00001", "services": [r], "turns": [
            _turn("USER", r, "I want somewhere to eat tonight.", [_act("INFORM_INTENT")]),
            _turn("SYSTEM", r, "What kind of cuisine are you after, and in which area?",
                  [_act("REQUEST", "category"), _act("REQUEST", "location")]),
            _turn("USER", r, "Thai food in the north, please.", [_act("INFORM", "category")]),
            _turn("SYSTEM", r, "I found 3 places. I'd recommend Lotus Garden.",
                  [_act("INFORM_COUNT", "count", ["3"]),
                   _act("OFFER", "restaurant_name", ["Lotus Garden"])],
                  results=[{"restaurant_name": "Lotus Garden"},
                           {"restaurant_name": "Basil Corner"}]),
            _turn("USER", r, "Yes, that works, thank you.", [_act("AFFIRM"), _act("THANK_YOU")]),
            _turn("SYSTEM", r, "Is there anything else I can help with?", [_act("REQ_MORE")]),
            _turn("USER", r, "No, that is all.", [_act("NEGATE"), _act("GOODBYE")]),
            _turn("SYSTEM", r, "Goodbye, enjoy your meal.", [_act("GOODBYE")]),
        ]},
        {"dialogue_id": "2_00007", "services": ["Alarm_1"], "turns": [
            _turn("USER", "Alarm_1", "Set an alarm for me.", [_act("INFORM_INTENT")]),
            _turn("SYSTEM", "Alarm_1", "What time should the alarm ring?",
                  [_act("REQUEST", "new_alarm_time")]),
            _turn("USER", "Alarm_1", "Seven in the morning.", [_act("INFORM", "new_alarm_time")]),
            _turn("SYSTEM", "Alarm_1", "An alarm at 7 am, shall I go ahead?",
                  [_act("CONFIRM", "new_alarm_time", ["7 am"])]),
            _turn("USER", "Alarm_1", "Yes please.", [_act("AFFIRM")]),
            _turn("SYSTEM", "Alarm_1", "Sorry, I could not set the alarm.",
                  [_act("NOTIFY_FAILURE")]),
        ]},
        {"dialogue_id": "3_00002", "services": ["Buses_3"], "turns": [
            _turn("SYSTEM", "Buses_3", "Which city are you leaving from?",
                  [_act("REQUEST", "from_city")]),
            _turn("SYSTEM", "Buses_3", "The bus leaves at 8:15 am.",
                  [_act("INFORM", "departure_time", ["8:15 am"])]),
            _turn("SYSTEM", "Buses_3", "Your ticket is booked.", [_act("NOTIFY_SUCCESS")]),
        ]},
    ]


@pytest.fixture
def mapping():
    return up.load_mapping()


@pytest.fixture
def sgd_dir(tmp_path):
    d = tmp_path / "sgd" / "test"
    d.mkdir(parents=True)
    (d / "dialogues_001.json").write_text(json.dumps(_sgd_dialogues()), encoding="utf-8")
    return d


def test_mapping_covers_every_corpus_label(mapping):
    m = mapping["sgd"]
    for act in SGD_SYSTEM_ACTS:
        assert act in m["system_acts"] or act in m["unmapped"], act
    for act in SGD_USER_ACTS:
        assert act in m["user_acts"] or act in m["unmapped"] or f"{act} (user)" in \
            m["unmapped"], act
    e = mapping["esconv"]
    for s in ESCONV_STRATEGIES:
        assert s in e["strategies"] or s in e["unmapped"], s
    # every act a mapping produces is scored in some group, every group's lexicon exists
    produced = {spec["act"].split(":")[0] for spec in m["system_acts"].values()}
    scored = {a for g in m["groups"].values() for a in g["acts"]}
    assert produced <= scored
    for g in [*m["groups"].values(), *e["groups"].values()]:
        lex = up.lexicon(g["lexicon"])
        assert isinstance(lex, Lexicon)
    # the slot map names only slots the group's domain knows
    for group, slots in m["slots"].items():
        if group.startswith("_"):
            continue
        known = set(up.lexicon(m["groups"][group]["lexicon"]).data.get("slots", {}))
        assert set(slots.values()) <= known, (group, set(slots.values()) - known)


def test_sgd_loader_gold_labels_and_groups(sgd_dir, mapping):
    rows = up.load_sgd(sgd_dir.parent, mapping)  # the repository root: its test/ split
    assert len(rows) == 17
    by_id = {r["id"]: r for r in rows}
    assert by_id["1_00001:1"]["group"] == "recommendation"
    assert by_id["2_00007:1"]["group"] == "virtual_assistant"
    assert by_id["3_00002:0"]["group"] == "other"
    assert by_id["1_00001:4"]["group"] == "user"
    assert by_id["1_00001:3"]["items"] == ["Basil Corner", "Lotus Garden"]

    def gold(i):
        return up.sgd_gold(mapping, by_id[i])[0]

    assert gold("1_00001:1") == {"request:cuisine", "request:area"}
    assert gold("1_00001:3") == {"inform", "recommend:Lotus Garden"}
    assert gold("1_00001:4") == {"confirm", "thank"}
    assert gold("1_00001:5") == {"close"}
    assert gold("2_00007:1") == {"request:time"}
    assert gold("2_00007:3") == {"request:confirmation"}
    assert gold("2_00007:5") == {"decline"}
    assert gold("3_00002:0") == {"request"}  # unmapped slot: act level only
    assert up.sgd_gold(mapping, by_id["3_00002:2"]) == (set(), {"inform"})


def test_sample_round_trip_is_seeded(sgd_dir, mapping, tmp_path):
    rows = up.load_sgd(sgd_dir, mapping)
    sizes = {"recommendation": 3, "virtual_assistant": 2, "other": 5, "user": 4}
    a = up.make_sgd_sample(rows, seed=3, sizes=sizes)
    assert a == up.make_sgd_sample(rows, seed=3, sizes=sizes)
    counts = defaultdict(int)
    for r in a:
        counts[r["group"]] += 1
    assert dict(counts) == {"recommendation": 3, "virtual_assistant": 2, "other": 3, "user": 4}
    path = tmp_path / "out" / up.SGD_SAMPLE
    up.write_sample(path, a, {"seed": 3})
    meta, back = up.read_sample(path)
    assert meta == {"seed": 3} and back == a
    # the command line writes the same file and then scores it
    assert up.main(["--sgd", str(sgd_dir), "--make-sample", str(tmp_path / "cli")]) == 0
    out = tmp_path / "res.json"
    assert up.main(["--sample-dir", str(tmp_path / "cli"), "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert sum(g["n"] for g in res["sgd"]["groups"].values()) == len(rows)


def test_scores_equal_a_recount(sgd_dir, mapping, tmp_path):
    rows = up.load_sgd(sgd_dir, mapping)
    res = up.evaluate_sgd(rows, mapping)
    for group, r in res.items():
        spec = mapping["sgd"]["groups"][group]
        lex = up.lexicon(spec["lexicon"])
        counts = {a: [0, 0, 0] for a in spec["acts"]}
        mine = [x for x in rows if x["group"] == group]
        assert [x["id"] for x in mine] == [x["id"] for x in r["records"]]
        for row, rec in zip(mine, r["records"], strict=True):
            # the record's prediction is what the layer says about the utterance
            ents = {"item": {i: [] for i in row["items"]}} if lex.recommend_kind else {}
            labels = (lex.with_entities(ents) if ents else lex).analyze(row["text"]).labels
            assert set(rec["pred"]) == {x for x in labels if x.split(":")[0] in spec["acts"]}
            gold, dont = up.sgd_gold(mapping, row)
            assert set(rec["gold"]) == gold
            g = {x.split(":")[0] for x in gold}
            p = {x.split(":")[0] for x in rec["pred"]}
            for a in spec["acts"]:
                if a in g:
                    counts[a][0 if a in p else 2] += 1
                elif a in p and a not in dont:
                    counts[a][1] += 1
        for a, (t, f_p, f_n) in counts.items():
            m = r["per_act"][a]
            assert (m["tp"], m["fp"], m["fn"]) == (t, f_p, f_n), (group, a)
            if t + f_p:
                assert m["precision"] == pytest.approx(t / (t + f_p))
            if t + f_n:
                assert m["recall"] == pytest.approx(t / (t + f_n))
    # the fixture's plain requests (a time, a confirmation) and closings are read
    assert res["virtual_assistant"]["per_label"]["request:time"]["tp"] == 1
    assert res["virtual_assistant"]["per_label"]["request:confirmation"]["tp"] == 1
    assert res["recommendation"]["per_act"]["close"]["recall"] == 1.0


def test_esconv_formats_and_scores(mapping, tmp_path):
    convs = [{"dialog": [
        {"speaker": "seeker", "annotation": {}, "content": "I lost my job last week."},
        {"speaker": "supporter", "annotation": {"strategy": "Question"},
         "content": "How long had you worked there?"},
        {"speaker": "supporter", "annotation": {"strategy": "Reflection of feelings"},
         "content": "You sound really anxious about money."},
        {"speaker": "supporter", "annotation": {"strategy": "Self-disclosure"},
         "content": "I was let go once too."},
    ]}]
    js = tmp_path / "ESConv.json"
    js.write_text(json.dumps(convs), encoding="utf-8")
    tsv = tmp_path / "testWithStrategy_short.tsv"
    tsv.write_text("1.0 0 0 I lost my job. EOS 1.0 1 1 [Providing Suggestions] Maybe you "
                   "could talk to a careers adviser.\n", encoding="utf-8")
    rows = up.load_esconv(js) + up.load_esconv(tsv)
    assert [r["strategy"] for r in rows] == ["Question", "Reflection of feelings",
                                             "Self-disclosure", "Providing Suggestions"]
    assert rows[0]["id"] == "ESConv:0:1" and rows[3]["id"] == "testWithStrategy_short:1"
    res = up.evaluate_esconv(rows, mapping)
    assert set(res) == set(mapping["esconv"]["groups"])
    for g, r in res.items():
        acts = mapping["esconv"]["groups"][g]["acts"]
        for a in acts:
            m = r["per_act"][a]
            gold_n = sum(a in rec["gold"] for rec in r["records"])
            assert m["support"] == gold_n
            hits = sum(a in rec["gold"] and a in {p.split(":")[0] for p in rec["pred"]}
                       for rec in r["records"])
            assert m["tp"] == hits
    with pytest.raises(up.DataError, match="neither mapped nor unmapped"):
        up.esconv_gold(mapping, "Telepathy")


def test_bad_inputs_are_clear_errors(tmp_path, mapping, capsys):
    with pytest.raises(up.DataError, match="no SGD dialogues"):
        up.load_sgd(tmp_path, mapping)
    bad = tmp_path / "dialogues_001.json"
    bad.write_text("[{\"x\": 1}]")
    with pytest.raises(up.DataError, match="not an SGD dialogues file"):
        up.load_sgd(bad, mapping)
    with pytest.raises(up.DataError, match="no ESConv file"):
        up.load_esconv(tmp_path / "missing.json")
    (tmp_path / "x.tsv").write_text("garbage line\n")
    with pytest.raises(up.DataError, match="not an ESConv split line"):
        up.load_esconv(tmp_path / "x.tsv")
    assert up.main(["--sample-dir", str(tmp_path / "none"), "--out",
                    str(tmp_path / "o.json")]) == 2
    assert "nothing to evaluate" in capsys.readouterr().err
