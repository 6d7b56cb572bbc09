"""finder evaluate: metrics by hand on a tiny case, and against brute force on a few hundred hashes."""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from finder.cli.app import cli
from finder.evaluate.metrics import TruthError, curve, evaluate, grouping_scores, truth_from_csv, truth_from_pattern
from finder.groups.linkage import group_indices
from finder.match.search import Rule
from finder.store.hashset import load
from tests.helpers import brute_distances, planted, synthetic_hashset


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def tiny():
    # a0, a1 in group 1 at distance 1; b0, b1 in group 2 at distance 2; across groups >= 8
    rows = np.array([[0b0], [0b1], [0xFF00], [0xFF03]], dtype=np.uint64)
    return synthetic_hashset(["1_a0.jpg", "1_a1.jpg", "2_b0.jpg", "2_b1.jpg"], {"x": rows})


def test_hand_computed_counts_and_scores():
    hs = tiny()
    c = curve(hs, "x", truth_from_pattern(hs.paths).labels)
    assert c.positives == 2 and c.negatives == 4
    # distances across groups: a0-b0 8, a0-b1 10, a1-b0 9, a1-b1 9
    assert c.same.tolist()[:3] == [0, 1, 1] and c.diff[8:11].tolist() == [1, 2, 1]
    t = c.table()
    assert (t["tp"][1], t["fp"][1], t["fn"][1], t["tn"][1]) == (1, 0, 1, 4)
    assert t["precision"][0] == 1.0 and t["recall"][0] == 0.0 and t["f1"][0] == 0.0
    assert t["recall"][2] == 1.0 and t["precision"][2] == 1.0 and t["f1"][2] == 1.0
    assert t["precision"][9] == pytest.approx(2 / 5) and t["accuracy"][9] == pytest.approx(3 / 6)
    assert c.best() == 2 and c.average_precision() == pytest.approx(1.0)
    # at d = 64 everything matches: precision 2/6
    assert t["precision"][64] == pytest.approx(1 / 3) and t["recall"][64] == 1.0


def brute_curve(words, labels, bits):
    dist = brute_distances(words, words)
    i, j = np.triu_indices(len(words), 1)
    d, same = dist[i, j], labels[i] == labels[j]
    rows = []
    for t in range(bits + 1):
        tp = int((same & (d <= t)).sum())
        fp = int((~same & (d <= t)).sum())
        rows.append((tp, fp, int(same.sum()) - tp, int((~same).sum()) - fp))
    # average precision from pairs ranked by distance, ties entering together
    ap, prev_recall = 0.0, 0.0
    for t in range(bits + 1):
        tp, fp, fn, _ = rows[t]
        recall = tp / (tp + fn)
        precision = tp / (tp + fp) if tp + fp else 1.0
        ap += (recall - prev_recall) * precision
        prev_recall = recall
    return rows, ap, d, same, i, j


@pytest.mark.parametrize("words", [1, 4])
def test_curves_equal_brute_force(words):
    h = planted(300, words, seed=11, copies=5, flips=6 * words)
    labels = np.repeat(np.arange(60), 5)
    rng = np.random.default_rng(0)
    perm = rng.permutation(300)
    hs = synthetic_hashset([f"{labels[k]:03d}_{k}.jpg" for k in perm], {"h": h[perm]})
    bits = 64 * words
    rows, ap, *_ = brute_curve(h[perm], labels[perm], bits)
    c = curve(hs, "h", truth_from_pattern(hs.paths).labels)
    t = c.table()
    assert list(zip(t["tp"].tolist(), t["fp"].tolist(), t["fn"].tolist(), t["tn"].tolist())) == rows
    assert c.average_precision() == pytest.approx(ap, abs=1e-12)
    best = max(range(bits + 1), key=lambda k: (2 * rows[k][0] / (2 * rows[k][0] + rows[k][1] + rows[k][2]), -k))
    assert c.best() == best


def test_grouping_scores_equal_brute_force():
    h = planted(200, 1, seed=5, copies=4, flips=5)
    labels = np.repeat(np.arange(50), 4)
    labels[::7] = 999  # some mislabelled images so that precision < 1
    dist = brute_distances(h, h)
    i, j = np.nonzero(np.triu(dist <= 8, 1))
    for linkage in ("single", "star"):
        scores = grouping_scores(labels, i, j, linkage)
        cluster_of = np.empty(200, int)
        for k, g in enumerate(group_indices(200, i, j, linkage)):
            cluster_of[g] = k
        a, b = np.triu_indices(200, 1)
        predicted, actual = cluster_of[a] == cluster_of[b], labels[a] == labels[b]
        assert scores["tp"] == int((predicted & actual).sum())
        assert scores["fp"] == int((predicted & ~actual).sum())
        assert scores["fn"] == int((~predicted & actual).sum())
        assert scores["largest_group"] == np.bincount(cluster_of).max()


def write_truth(tmp_path, hs, groups, transforms):
    path = tmp_path / "truth.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "group", "transform"])
        for p, g, t in zip(hs.paths, groups, transforms):
            w.writerow([str(p).split("/")[-1], g, t])
    return path


def test_per_transform_recall_and_votes_equal_brute_force(tmp_path):
    h = planted(120, 4, seed=3, copies=4, flips=40)
    groups = np.repeat(np.arange(30), 4)
    transforms = np.array(["original", "crop", "flip", "jpeg"] * 30)
    paths = [f"img/{k:04d}.jpg" for k in range(120)]
    hs = synthetic_hashset(paths, {"find": h, "dhash": h[:, 1:2] ^ np.uint64(0)}, {"find": 256, "dhash": 64})
    truth = truth_from_csv(hs.paths, str(write_truth(tmp_path, hs, groups, transforms)))
    assert [truth.names[k] for k in truth.labels] == [str(g) for g in groups]
    assert truth.columns["transform"].tolist() == transforms.tolist()
    rules = {"find": Rule("find", 256, 35), "dhash": Rule("dhash", 64, 9)}
    result = evaluate(hs, truth, rules=rules)
    d_find, d_dhash = brute_distances(h, h), brute_distances(h[:, 1:2], h[:, 1:2])
    for t in ("crop", "flip", "jpeg"):
        members = np.flatnonzero(transforms == t)
        matched = [d_find[m, m - m % 4] <= 35 for m in members]
        assert result.per_transform["find"][t] == {"pairs": 30, "matched": int(sum(matched)),
                                                   "recall": sum(matched) / 30}
    a, b = np.triu_indices(120, 1)
    same = groups[a] == groups[b]
    votes = (d_find[a, b] <= 35).astype(int) + (d_dhash[a, b] <= 9)
    for v in result.votes:
        predicted = votes >= v["k"]
        assert (v["tp"], v["fp"]) == (int((predicted & same).sum()), int((predicted & ~same).sum()))
    assert [v["k"] for v in result.votes] == [1, 2]


def test_truth_matching_by_relative_path_and_basename(tmp_path):
    (tmp_path / "images").mkdir()
    hs = synthetic_hashset([str(tmp_path / "images" / "a.jpg"), "elsewhere/b.jpg", "c.jpg"], {"x": np.zeros((3, 1))})
    path = tmp_path / "truth.csv"
    path.write_text("path,group\nimages/a.jpg,1\nb.jpg,1\nunrelated.jpg,2\n")
    truth = truth_from_csv(hs.paths, str(path))
    assert truth.labels.tolist() == [0, 0, -1]
    assert truth.unmatched == ["unrelated.jpg"]  # listed, not dropped without a word (issue 19, item 5)
    with pytest.raises(TruthError, match="'path' and 'group'"):
        (tmp_path / "bad.csv").write_text("file,label\nx,1\n")
        truth_from_csv(hs.paths, str(tmp_path / "bad.csv"))
    with pytest.raises(TruthError, match="no \\(group\\)"):
        truth_from_pattern(hs.paths, r"^\d+_")
    with pytest.raises(TruthError, match="only 0 of 1"):
        evaluate(synthetic_hashset(["x.jpg"], {"x": np.zeros((1, 1))}), truth_from_pattern(["x.jpg"]))


@pytest.fixture
def labelled_file(tmp_path):
    h = planted(40, 1, seed=2, copies=4, flips=3)
    hs = synthetic_hashset([f"{k // 4:04d}_{k}.jpg" for k in range(40)], {"dhash": h, "ahash": h ^ np.uint64(5)},
                           {"dhash": 64, "ahash": 64})
    hs.save(tmp_path / "h.npz")
    return tmp_path / "h.npz"


def test_cli_formats(labelled_file, tmp_path):
    table = run("evaluate", labelled_file)
    assert table.exit_code == 0 and "dhash" in table.stdout and "Voting" in table.stdout
    rows = list(csv.DictReader(io.StringIO(run("evaluate", labelled_file, "--format", "csv").stdout)))
    assert len(rows) == 2 * 65 and rows[0]["algorithm"] == "dhash" and rows[0]["distance"] == "0"
    data = json.loads(run("evaluate", labelled_file, "--format", "json", "-a", "dhash", "-t", "0.1").stdout)
    assert data["positive_pairs"] == 60 and data["algorithms"]["dhash"]["distance"] == 6
    assert set(data["algorithms"]["dhash"]["grouping"]) == {"single", "star"} and data["votes"] == []


def test_cli_plot(labelled_file, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "eval.png"
    assert run("evaluate", labelled_file, "--plot", out).exit_code == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


@pytest.mark.parametrize("args,message", [
    (["--truth", "missing.csv"], "does not exist"),
    (["--group-pattern", "("], "bad --group-pattern"),
    (["--group-pattern", "^(zzz)"], "nothing to evaluate"),
    (["--vote", "3"], "--vote must be between 1 and the number of algorithms (2)"),
    (["-a", "find"], "has no find hashes (it has dhash, ahash)"),
    (["-t", "phash=0.2"], "has no phash hashes (it has dhash, ahash)"),
])
def test_cli_errors(labelled_file, args, message):
    result = run("evaluate", labelled_file, *args)
    assert result.exit_code == 2 and message in result.stderr


def test_keeper_scores_count_the_groups_that_keep_their_original():
    """Hand-made truth: three found groups hold an original, two keep it; one group without an original and
    an unlabelled keeper are handled as documented."""
    import numpy as np

    from finder.evaluate.keepers import has_originals, keeper_scores
    from finder.evaluate.metrics import Truth
    from finder.groups.linkage import Group, Member

    paths = [f"/p/{k}.jpg" for k in range(8)]
    kinds = ["original", "jpeg", "original", "pad", "original", "upscale", "crop", "rotate"]
    truth = Truth(np.array([0, 0, 1, 1, 2, 2, 3, 3]), ["a", "b", "c", "d"], {"transform": np.array(kinds)})

    def group(keeper, *members, reason="x: because"):
        return Group(0, members[0], [Member(m, 0) for m in members], keeper, reason)

    groups = [group("/p/0.jpg", "/p/0.jpg", "/p/1.jpg"), group("/p/3.jpg", "/p/2.jpg", "/p/3.jpg",
                                                                 reason="a: one; frame: no added frame"),
              group("/p/4.jpg", "/p/4.jpg", "/p/5.jpg"), group("/p/6.jpg", "/p/6.jpg", "/p/7.jpg")]
    scores = keeper_scores(groups, paths, truth)
    assert (scores.groups, scores.original_kept) == (3, 2) and scores.share == 2 / 3
    assert dict(scores.instead) == {"pad": 1} and dict(scores.reasons) == {"frame": 1}
    assert has_originals(truth) and not has_originals(Truth(truth.labels, truth.names))


def test_evaluate_scores_at_the_default_threshold_unless_told_and_warns_of_unmatched_rows(labelled_file, tmp_path):
    """evaluate leads with what cluster does: each algorithm at its default threshold (the best-F1 one beside
    it); a truth row that matches no image is named on stderr and in the JSON."""
    from finder.algorithms import get

    hs = load(labelled_file)
    result = evaluate(hs, truth_from_pattern(hs.paths))
    for name, rule in result.chosen.items():
        assert rule.max_distance == int(get(name).default_threshold * rule.bits + 1e-9)
    truth = tmp_path / "truth.csv"
    truth.write_text("path,group\n" + "".join(f"{os.path.basename(p)},{os.path.basename(p)[:4]}\n"
                                              for p in hs.paths) + "gone.jpg,9999\n")
    out = CliRunner().invoke(cli, ["evaluate", str(labelled_file), "--truth", str(truth), "--format", "json"])
    assert out.exit_code == 0, out.output
    assert "1 truth rows match no image" in out.stderr and "gone.jpg" in out.stderr
    assert json.loads(out.stdout)["truth_rows_without_image"] == ["gone.jpg"]
