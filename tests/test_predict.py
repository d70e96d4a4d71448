"""kit.predict: an artifact's kept models and ensemble fits give back its own test logits from the raw test posts,
for every family and every fitted ensemble method; the input forms; the output columns."""

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kit import cli, predict
from kit.artifacts import Artifact
from kit.data_settings import Columns
from kit.predict import (Posts, display_width, load_source, numbered, predictions, read_input, readable, source_name,
                         unreadable)

CLASSES = ["--classes", "-1", "0", "1"]
TINY_BERT = {"kind": "transformer", "backbone": "unused", "max_len": 24, "epochs": 1, "batch_size": 16,
             "lr": 0.003, "head": "mean", "predict_batch_size": 16}
ENSEMBLES = {
    "ensemble.stack": {"method": "stack"},
    "ensemble.votes": {"method": "vote_multiround", "class_weights": True},
    "ensemble.car": {"method": "caruana", "rounds": 5, "class_weights": True},
}
EXPERIMENTS = {"char.raw.s0": ("raw", {"kind": "sklearn", "min_df": 1}),
               "word.cleaned.s0": ("cleaned", {"kind": "sklearn", "features": "word", "min_df": 1,
                                               "estimator": "linear_svm"}),
               "bert.cleaned.s0": ("cleaned", TINY_BERT)}


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_torch_thread):
    """A run folder made by the commands the rules call: three experiments (TF-IDF on raw and cleaned texts, a
    scratch transformer) kept in models/folds/, three fitted ensembles and one of ensembles, and subs/final.json."""
    root = tmp_path_factory.mktemp("run")
    main = lambda *argv: cli.main([*argv, "--log", str(root / "logs" / "run.log")])  # noqa: E731
    main("demo", "--train", f"{root}/raw/train.csv", "--test", f"{root}/raw/test.csv", "--unlabeled",
         f"{root}/raw/u.csv", "--n-train", "160", "--n-test", "50", "--n-unlabeled", "50")
    main("ingest", "--train", f"{root}/raw/train.csv", "--test", f"{root}/raw/test.csv", *CLASSES,
         "--out-train", f"{root}/i/train.parquet", "--out-test", f"{root}/i/test.parquet", "--report",
         f"{root}/i/report.json")
    for variant in ("raw", "cleaned"):
        main("variant", "--name", variant, "--train", f"{root}/i/train.parquet", "--test", f"{root}/i/test.parquet",
             "--out-train", f"{root}/v/{variant}/train.parquet", "--out-test", f"{root}/v/{variant}/test.parquet",
             "--meta", f"{root}/v/{variant}/meta.json")
    main("folds", "--train", f"{root}/i/train.parquet", "--k", "2", "--seed", "0", "--out", f"{root}/folds.parquet")
    main("build-backbone", "--settings-json", '{"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, '
         '"max_position": 32}', "--texts", f"{root}/i/train.parquet", f"{root}/i/test.parquet", "--out-backbone",
         f"{root}/backbone")
    for name, (variant, entry) in EXPERIMENTS.items():
        params = {key: value for key, value in entry.items() if key != "kind"}
        files = ["--kind", entry["kind"], "--params-json", json.dumps(params), "--train",
                 f"{root}/v/{variant}/train.parquet", "--test", f"{root}/v/{variant}/test.parquet", "--variant-meta",
                 f"{root}/v/{variant}/meta.json", "--folds", f"{root}/folds.parquet", *CLASSES]
        backbone = ["--backbone-dir", f"{root}/backbone"] if entry["kind"] == "transformer" else []
        for fold in (0, 1):
            main("fit-fold", *files, *backbone, "--fold", str(fold), "--seed", "0", "--workdir", f"{root}/ck/{fold}",
                 "--out", f"{root}/oof/{name}/fold{fold}.npz", "--model-dir", f"{root}/models/{name}/fold{fold}",
                 "--config-hash", "c")
        main("merge", *files, "--fold-files", f"{root}/oof/{name}/fold0.npz", f"{root}/oof/{name}/fold1.npz",
             "--name", name, "--model", name.split(".")[0], "--config-hash", "c", "--out-npz",
             f"{root}/oof/{name}/oof.npz", "--out-manifest", f"{root}/oof/{name}/manifest.json")
    for name, spec in [*ENSEMBLES.items(), ("ensemble.top", {"method": "mean", "members": ["ensemble.stack",
                                                                                           "ensemble.votes"]})]:
        members = spec.get("members", list(EXPERIMENTS))
        main("ensemble", "--name", name, "--spec-json", json.dumps(spec),
             "--member-npz", *[f"{root}/oof/{m}/oof.npz" for m in members],
             "--member-manifests", *[f"{root}/oof/{m}/manifest.json" for m in members],
             "--out-npz", f"{root}/oof/{name}/oof.npz", "--out-manifest", f"{root}/oof/{name}/manifest.json",
             "--out-combination", f"{root}/oof/{name}/combination.skops")
    candidates = [*ENSEMBLES, "ensemble.top"]
    main("submit", "--npz", *[f"{root}/oof/{c}/oof.npz" for c in candidates], "--manifests",
         *[f"{root}/oof/{c}/manifest.json" for c in candidates], "--test", f"{root}/i/test.parquet", "--out",
         f"{root}/subs/final.csv", "--sidecar", f"{root}/subs/final.json")
    return root


@pytest.mark.slow  # the module fixture trains three experiments and four ensembles
def test_every_artifact_predicts_its_own_test_logits_from_the_raw_posts(run):
    posts = pd.read_parquet(run / "i" / "test.parquet")["text"].tolist()
    for name in [*EXPERIMENTS, *ENSEMBLES, "ensemble.top"]:
        source = load_source(name, run / "oof", run / "models")
        expected = Artifact.load(run / "oof" / name).test_logits
        logits = source.predict(posts)
        assert logits.dtype == np.float32 and np.array_equal(logits.argmax(1), expected.argmax(1)), name
        np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-5, err_msg=name)
    assert load_source("ensemble.top", run / "oof", run / "models").n_models == 6  # each experiment loaded once


@pytest.mark.slow  # the module fixture trains three experiments and four ensembles
def test_one_post_gets_the_label_the_batch_gave_it(run):
    posts = pd.read_parquet(run / "i" / "test.parquet")["text"].tolist()
    source = load_source("ensemble.car", run / "oof", run / "models")
    batch = source.predict(posts)
    one_by_one = np.concatenate([source.predict([post]) for post in posts[:8]])
    assert np.array_equal(one_by_one.argmax(1), batch[:8].argmax(1))


@pytest.mark.slow  # the module fixture trains three experiments and four ensembles
def test_the_default_source_is_the_final_submissions(run):
    final = json.loads((run / "subs" / "final.json").read_text())["source"]
    assert source_name(None, run / "subs" / "final.json", run / "oof") == final
    with pytest.raises(FileNotFoundError, match="no final submission to predict with"):
        source_name(None, run / "nope.json", run / "oof")


def test_a_source_is_a_name_or_a_folder_of_this_run_s_oof_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for run in ("run", "other"):
        (tmp_path / run / "oof" / "ensemble.mean").mkdir(parents=True)
        (tmp_path / run / "oof" / "ensemble.mean" / "manifest.json").write_text("{}")
    oof, final = Path("run/oof"), Path("run/subs/final.json")
    for given in ("ensemble.mean", "run/oof/ensemble.mean", "run/oof/ensemble.mean/", str(tmp_path / "run/oof/ensemble.mean"),
                  "run/oof/ensemble.unbuilt"):  # load_source names an artifact that was not built
        assert source_name(given, final, oof) == Path(given).name
    other = re.escape(str(tmp_path / "other"))
    with pytest.raises(ValueError, match=rf"^{other}/oof/ensemble\.mean: is not in this run's run/oof/ \(another "
                                         rf"run's artifact\?\); run kit predict in {other}, or pass --directory "
                                         rf"{other} --source ensemble\.mean$"):
        source_name(str(tmp_path / "other/oof/ensemble.mean"), final, oof)
    with pytest.raises(ValueError, match=r"^elsewhere/ensemble\.mean: is not in this run's run/oof/ .*; run kit "
                                         r"predict in <its run folder>, or pass --directory <its run folder> --source"):
        source_name("elsewhere/ensemble.mean", final, oof)
    with pytest.raises(ValueError, match=r"manifest\.json: is a file; --source takes an artifact's name or its "
                                         r"folder \(run/oof/<name>\)$"):
        source_name("run/oof/ensemble.mean/manifest.json", final, oof)


@pytest.mark.slow  # the module fixture trains three experiments and four ensembles
def test_the_command_shows_each_text_beside_its_label_and_probabilities(run, capsys, monkeypatch):
    monkeypatch.chdir(run)
    monkeypatch.setenv("COLUMNS", "60")
    long_post = "武汉加油！" * 20
    cli.main(["predict", "--text", long_post, "--text", "太难过了", "--models-dir", "models"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["label", "p(-1)", "p(0)", "p(1)", "text"]
    assert lines[1].endswith("…") and "武汉加油！武汉" in lines[1] and lines[2].endswith("太难过了")
    for line in lines[1:]:
        label, *probs = line.split()[:4]
        assert label == ["-1", "0", "1"][int(np.argmax([float(p) for p in probs]))]
    assert max(display_width(line) for line in lines) <= 60


@pytest.mark.slow  # the module fixture trains three experiments and four ensembles
def test_the_command_reads_the_run_folder_that_directory_names(run, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    cli.main(["predict", "--directory", str(run), "--text", "太难过了", "--models-dir", "models", "--out", "p.csv"])
    assert (run / "p.csv").is_file() and not (tmp_path / "p.csv").exists()  # relative paths are the folder's


def test_posts_without_a_chinese_character_are_named_in_a_warning():
    posts = numbered(["武汉加油", "", "   ", "😀", "I love this", "口罩 ok"])
    assert unreadable(posts) == ("warning: 4 post(s) hold no Chinese character (id 2, 3, 4, 5): the models learnt "
                                 "from Chinese posts, so their labels are guesses from nothing the models know")
    assert unreadable(numbered(["武汉加油"])) is None
    assert unreadable(numbered([""] * 12)).startswith("warning: 12 post(s) hold no Chinese character (id 1, 2, 3, 4, "
                                                       "5, 6, 7, 8, 9, 10 and 2 more)")


@pytest.mark.slow  # the module fixture trains three experiments and four ensembles
def test_the_command_writes_id_y_and_probabilities_as_csv(run, capsys, monkeypatch):
    monkeypatch.chdir(run)
    cli.main(["predict", "--text", "武汉加油！", "--text", "太难过了", "--models-dir", "models", "--out", "p.csv"])
    rows = list(csv.DictReader(io.StringIO((run / "p.csv").read_text(encoding="utf-8"))))
    assert [row["id"] for row in rows] == ["1", "2"]
    assert list(rows[0]) == ["id", "y", "p_-1", "p_0", "p_1"]
    for row in rows:
        probs = [float(row[f"p_{label}"]) for label in ("-1", "0", "1")]
        assert row["y"] == ["-1", "0", "1"][int(np.argmax(probs))] and abs(sum(probs) - 1) < 1e-4


@pytest.mark.slow  # the module fixture trains three experiments and four ensembles
def test_a_competition_csv_and_a_file_of_lines_are_both_read(run, tmp_path):
    posts = read_input(str(run / "raw" / "test.csv"), None, Columns())
    assert posts.ids == pd.read_parquet(run / "i" / "test.parquet")["id"].tolist()
    (tmp_path / "lines.txt").write_text("武汉加油\n\n今天好难过\n", encoding="utf-8")
    notes = []
    lines = read_input(str(tmp_path / "lines.txt"), None, Columns(), log=notes.append)
    assert lines == Posts(["1", "2", "3"], ["武汉加油", "", "今天好难过"])
    assert "1 blank line(s) are predicted as empty posts" in notes[0]
    (tmp_path / "nul.txt").write_bytes("口罩\x00都\n武汉".encode("utf-8"))
    notes = []
    posts = read_input(str(tmp_path / "nul.txt"), None, Columns(), log=notes.append)
    assert posts.texts == ["口罩都", "武汉"]
    assert notes == [f"{tmp_path / 'nul.txt'}: 1 NUL byte(s) removed"]
    (tmp_path / "big5.txt").write_bytes("武漢加油".encode("big5") + b"\xff\xfe")
    with pytest.raises(ValueError, match=r"big5.txt: line 1: 2 byte sequence\(s\) are neither UTF-8 nor GB18030"):
        read_input(str(tmp_path / "big5.txt"), None, Columns())


WRONG_COLUMNS = 'id,text\n101,武汉加油\n102,太难过了，心疼\n103,"谣言,不要信"\n'


def test_a_csv_header_without_the_id_and_text_columns_is_refused_naming_them(tmp_path):
    def posts(text: str, **options) -> Posts:
        (tmp_path / "posts.csv").write_text(text, encoding="utf-8")
        return read_input(str(tmp_path / "posts.csv"), None, options.pop("columns", Columns()), **options)

    with pytest.raises(ValueError, match=r"posts\.csv: its first line, read as a CSV header, names the columns "
                                         r"\['id', 'text'\]: no id column '微博id' \(did you mean 'id'\?\) and no "
                                         r"text column '微博中文内容'; name the file's id and text columns with "
                                         r"--column-id and --column-text, or pass --lines"):
        posts(WRONG_COLUMNS)
    with pytest.raises(ValueError, match=r"no id column '微博id' \(did you mean '微博ID'\?\) and no text column "
                                         r"'微博中文内容' \(did you mean '微博内容'\?\)"):
        posts("微博ID,微博内容\n101,武汉加油\n102,太难过了\n")
    with pytest.raises(ValueError, match=r"names the columns \['label', 'review'\]: no id column '微博id'; name "
                                         r"the file's id column with --column-id,"):
        posts("label,review\n1,武汉加油\n", columns=Columns(text="review"), columns_given=True)
    with pytest.raises(ValueError, match=r"names the columns \['武汉加油'\]: no id column '微博id' and no text "
                                         r"column 'review'"):  # a column named for a file of lines
        posts("武汉加油\n口罩\n", columns=Columns(text="review"), columns_given=True)
    with pytest.raises(ValueError, match=r"its first line is a tab-separated header \['id', 'text'\]; kit predict "
                                         r"reads a comma-separated CSV"):
        posts("id\ttext\n101\t武汉加油\n")
    with pytest.raises(ValueError, match=r"^--lines reads one post per line, which has no columns"):
        posts(WRONG_COLUMNS, columns=Columns(id="id"), columns_given=True, lines=True)
    assert posts(WRONG_COLUMNS, columns=Columns(id="id", text="text"), columns_given=True) == Posts(
        ["101", "102", "103"], ["武汉加油", "太难过了，心疼", "谣言,不要信"])
    assert posts(WRONG_COLUMNS, lines=True, log=print).texts == WRONG_COLUMNS.splitlines()
    with pytest.raises(ValueError, match=r"^--text gives the posts, so --input and --lines would be ignored: give "
                                         r"the posts with --text or with --input, not both$"):
        read_input(str(tmp_path / "posts.csv"), ["武汉加油"], Columns(), lines=True)


def test_a_csv_without_its_header_line_is_refused_rather_than_each_id_glued_to_its_text(tmp_path):
    rows = "4457000000000000,01月01日 23:50,u,武汉加油,[],[]\n4457000000000001,01月01日 23:51,u,口罩,[],[]\n"
    (tmp_path / "posts.csv").write_text(rows, encoding="utf-8")
    with pytest.raises(ValueError, match=r"posts\.csv: its lines start with an id and a comma \(line 1: "
                                         r"'4457000000000000'\), as a CSV without its header line; add the header "
                                         r"\(naming '微博id' and '微博中文内容'\), or pass --lines"):
        read_input(str(tmp_path / "posts.csv"), None, Columns(), log=print)
    assert read_input(str(tmp_path / "posts.csv"), None, Columns(), lines=True, log=print).texts == rows.splitlines()
    # A year or a count a post starts with is no id; nor is anything when ids may be any text.
    (tmp_path / "posts.txt").write_text("2020,武汉加油\n100,口罩\n", encoding="utf-8")
    assert len(read_input(str(tmp_path / "posts.txt"), None, Columns(), log=print).texts) == 2
    assert len(read_input(str(tmp_path / "posts.csv"), None, Columns(id_pattern=None), log=print).texts) == 2


def test_posts_holding_commas_are_still_one_post_per_line(tmp_path):
    """A comma alone makes no header: the first line's fields must be column names and most next lines as wide."""
    for text in ("武汉加油,中国加油\n今天很开心\n太难过了，心疼\n口罩,买不到\n",  # most lines one field
                 "武汉加油，中国加油,心疼\n口罩,买不到\n",  # a field with sentence punctuation is no column name
                 "101,武汉加油\n102,口罩\n",  # a number is no column name
                 "口罩,口罩\n武汉,加油\n",  # nor is a name given twice
                 "武汉加油,中国加油\n心疼,希望早日康复\n口罩,买不到\n"):  # posts cut at one comma: no column of numbers
        (tmp_path / "posts.txt").write_text(text, encoding="utf-8")
        assert read_input(str(tmp_path / "posts.txt"), None, Columns(), log=print).texts == text.splitlines()


def test_an_out_that_cannot_take_the_predictions_is_refused_before_any_model_loads(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(predict, "load_source", lambda *args: pytest.fail("the models were loaded"))
    (tmp_path / "posts.txt").write_text("武汉加油\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    (tmp_path / "link.txt").symlink_to(tmp_path / "posts.txt")
    refused = {"folder": r"folder: is a folder; --out takes the predictions file to write \(e\.g\. folder/predictions"
                         r"\.csv\)$",
               "posts.txt/p.csv": r"posts\.txt/p\.csv: posts\.txt is a file, not a folder; give --out a path in a "
                                  r"folder$",
               "/dev/null": r"/dev/null: is not a regular file \(a device or a pipe\?\), and --out writes a file in "
                            r"its place",
               "./posts.txt": r"\./posts\.txt: is the --input file posts\.txt; the predictions would replace its "
                              r"posts: give --out another file$",
               str(tmp_path / "link.txt"): r"/\S+/link\.txt: is the --input file posts\.txt",
               "subs/final.csv": r"subs/final\.csv: is in the run's subs, which the workflow writes \(subs/final\.csv, "
                                 r"the artifacts, the data it rebuilds from\); write the predictions elsewhere",
               "./oof/x/p.csv": r"\./oof/x/p\.csv: is in the run's oof,",
               "data/interim/p.csv": r"data/interim/p\.csv: is in the run's data/interim,",
               "data/folds.parquet": r"data/folds\.parquet: is in the run's data/folds\.parquet,"}
    for out, error in refused.items():
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["predict", "--input", "posts.txt", "--out", out, "--log", "log"])
        last = (tmp_path / "log").read_text(encoding="utf-8").splitlines()[-1]
        assert exit_info.value.code == 2 and re.search(r"error: " + error, last), last
    assert (tmp_path / "posts.txt").read_text(encoding="utf-8") == "武汉加油\n"
    predict.check_out("data/raw/new_predictions.csv", "posts.txt")  # the competition's own files' folder is free


def test_predictions_are_the_argmax_and_the_softmax():
    frame = predictions(Posts(["7"], ["x"]), np.array([[0.0, 2.0, 0.0]], np.float32), ["-1", "0", "1"])
    assert frame.loc[0, "y"] == "0" and frame.loc[0, "p_0"] == pytest.approx(np.exp(2) / (np.exp(2) + 2), abs=1e-6)
    assert list(frame.columns) == ["id", "y", "p_-1", "p_0", "p_1"] and frame.loc[0, "id"] == "7"


def test_a_person_reads_each_label_and_probability_beside_the_shortened_text():
    logits = np.array([[0.0, 2.0, 0.0], [3.0, 0.0, 0.0]], np.float32)
    lines = readable(numbered(["武汉加油！" * 20, "太难过了"]), logits, ["-1", "0", "1"], 60).splitlines()
    assert lines[0].split() == ["label", "p(-1)", "p(0)", "p(1)", "text"]
    assert lines[1].split()[:4] == ["0", "0.107", "0.787", "0.107"] and lines[1].endswith("…")
    assert lines[2].split() == ["-1", "0.909", "0.045", "0.045", "太难过了"]
    assert max(display_width(line) for line in lines) <= 60


@pytest.mark.slow  # the module fixture trains three experiments and four ensembles
def test_an_experiment_whose_models_were_not_kept_is_named(run, tmp_path):
    import shutil

    models = tmp_path / "models"
    shutil.copytree(run / "models", models)
    shutil.rmtree(models / "char.raw.s0" / "fold1")
    with pytest.raises(FileNotFoundError, match=r"char.raw.s0/fold1: no kept fold model of char.raw.s0"):
        load_source("ensemble.stack", run / "oof", models)


@pytest.mark.slow  # the module fixture trains three experiments and four ensembles
def test_a_blend_member_without_weight_is_neither_loaded_nor_predicted(run, tmp_path):
    import shutil

    weights = {"char.raw.s0": 0.7, "word.cleaned.s0": 0.0, "bert.cleaned.s0": 0.3}
    folder = run / "oof" / "ensemble.fixed"
    spec = json.dumps({"method": "fixed", "weights": weights})
    cli.main(["ensemble", "--name", "ensemble.fixed", "--spec-json", spec,
              "--member-npz", *[f"{run}/oof/{m}/oof.npz" for m in weights],
              "--member-manifests", *[f"{run}/oof/{m}/manifest.json" for m in weights],
              "--out-npz", f"{folder}/oof.npz", "--out-manifest", f"{folder}/manifest.json",
              "--out-combination", f"{folder}/combination.skops", "--log", f"{tmp_path}/log"])
    models = tmp_path / "models"
    shutil.copytree(run / "models", models)
    shutil.rmtree(models / "word.cleaned.s0")
    source = load_source("ensemble.fixed", run / "oof", models)
    assert source.n_models == 4 and "word.cleaned.s0" not in source.nodes
    posts = pd.read_parquet(run / "i" / "test.parquet")["text"].tolist()
    np.testing.assert_allclose(source.predict(posts), Artifact.load(folder).test_logits, rtol=0, atol=1e-5)
    shutil.rmtree(folder)  # the module's other tests list the run's artifacts
