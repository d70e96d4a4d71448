"""The Snakemake workflow end to end on a tiny config in a temporary folder, and dry runs of the shipped configs."""

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from kit.artifacts import Artifact
from tests.conftest import PLUGIN, fit_fold_pids, job_counts
from kit.demo import NOISE, make_demo
from kit.figures import COLOURS
from kit.models.transformer.train import CHECKPOINT

REPO = Path(__file__).resolve().parents[1]
NOISE_EMPTY_TEST = NOISE["test"]["empty_text"]  # empty test texts stay out of the pool


def snakemake(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Another competition in the same layout (train.csv, test.csv), named only through --configfile."""
    workdir = tmp_path_factory.mktemp("run")
    files = make_demo(workdir / "raw", n_train=500, n_test=120, n_unlabeled=50, seed=3)
    (workdir / "comp").mkdir()
    files["train"].rename(workdir / "comp" / "train.csv")
    files["test"].rename(workdir / "comp" / "test.csv")
    config = {
        "data": {"train": "comp/train.csv", "test": "comp/test.csv"},
        "folds": {"k": 3, "seed": 1},
        "models": {"char_lr": {"kind": "sklearn", "features": "char", "min_df": 1}},
        "ensembles": {"avg": {"method": "mean", "members": "all"}},
    }
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    snakemake(workdir, "--configfile", "tiny.yaml", "-j2")
    return workdir


@pytest.mark.slow
def test_run_writes_valid_artifacts_and_a_valid_submission(tiny_run):
    test_ids = pd.read_parquet(tiny_run / "data" / "interim" / "test.parquet")["id"].tolist()
    final = pd.read_csv(tiny_run / "subs" / "final.csv", dtype=str)
    assert final.columns.tolist() == ["id", "y"]
    assert sorted(final["id"]) == sorted(test_ids) and len(test_ids) == 120
    assert set(final["y"]) <= {"-1", "0", "1"}
    sidecar = json.loads((tiny_run / "subs" / "final.json").read_text())
    honest = {}
    for name in ("char_lr.raw.s0", "char_lr.cleaned.s0", "ensemble.avg"):
        artifact = Artifact.load(tiny_run / "oof" / name)
        assert artifact.manifest["fold_hash"] == sidecar["fold_hash"]
        assert artifact.oof_logits.shape == (len(artifact.ids), 3)
        honest[name] = artifact.manifest["honest_macro_f1"]
    # final: auto takes the best honest score, an experiment's as well as an ensemble's.
    assert sidecar["source"] == max(honest, key=honest.get) and "best honest" in sidecar["reason"]
    report = json.loads((tiny_run / "data" / "interim" / "report.json").read_text())
    assert report["splits"]["train"]["rows_kept"] == len(Artifact.load(tiny_run / "oof" / "char_lr.raw.s0").ids)


@pytest.mark.slow
def test_scores_json_lists_every_artifact(tiny_run):
    out = subprocess.run(
        [sys.executable, "-m", "kit", "scores", "--json", "--oof-dir", str(tiny_run / "oof")],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = {row["name"]: row for row in json.loads(out)}
    assert set(rows) == {"char_lr.raw.s0", "char_lr.cleaned.s0", "ensemble.avg"}
    for row in rows.values():
        assert {"name", "kind", "oof_macro_f1", "fold_f1_mean", "fold_f1_std", "per_class_f1", "honest_macro_f1"} <= set(row)
        assert row["oof_macro_f1"] > 0.4  # the demo's signal is learnable: chance is about 0.3
    assert rows["ensemble.avg"]["kind"] == "ensemble"


@pytest.mark.slow
def test_scores_tell_this_runs_artifacts_by_the_config_snakemake_last_planned_with(tiny_run, tmp_path):
    """The run records its whole config in logs/run_config.yaml, so `kit scores` run from anywhere (--directory)
    checks the artifacts against it; a dry run of another config (a what-if) leaves the record of the run alone."""
    record = yaml.safe_load((tiny_run / "logs" / "run_config.yaml").read_text(encoding="utf-8"))
    assert record["models"]["char_lr"]["min_df"] == 1 and record["folds"]["k"] == 3

    def not_of_this_run() -> dict:
        out = subprocess.run([sys.executable, "-m", "kit", "scores", "--json", "--directory", str(tiny_run)],
                             cwd=tmp_path, capture_output=True, text=True, check=True).stdout
        return {row["name"]: row.get("not_of_this_run") for row in json.loads(out)}

    assert not_of_this_run() == {"char_lr.raw.s0": None, "char_lr.cleaned.s0": None, "ensemble.avg": None}
    recorded = (tiny_run / "logs" / "run_config.yaml").read_bytes()
    snakemake(tiny_run, "-n", "--configfile", "tiny.yaml", "--config", "models={char_lr: {C: 2.0}}")
    assert (tiny_run / "logs" / "run_config.yaml").read_bytes() == recorded
    assert set(not_of_this_run().values()) == {None}
    # Against that config, named: the changed experiments and the ensemble over them are apart.
    (tmp_path / "c2.yaml").write_text(yaml.safe_dump({**record, "models": {"char_lr": {**record["models"]["char_lr"],
                                                                                         "C": 2.0}}}))
    out = subprocess.run([sys.executable, "-m", "kit", "scores", "--json", "--directory", str(tiny_run),
                          "--configfile", str(tmp_path / "c2.yaml")], capture_output=True, text=True, check=True)
    changed = {row["name"]: row.get("not_of_this_run") for row in json.loads(out.stdout)}
    assert changed["char_lr.raw.s0"].startswith("its config entry changed since it was built")
    assert changed["ensemble.avg"].startswith("member char_lr.")


@pytest.mark.slow
def test_predicting_the_test_file_reproduces_the_final_submission(tiny_run):
    """kit predict on the competition's own test file, from the models the run kept, gives subs/final.csv again."""
    subprocess.run([sys.executable, "-m", "kit", "predict", "--input", "comp/test.csv", "--out", "predicted.csv"],
                   cwd=tiny_run, check=True, capture_output=True)
    predicted = pd.read_csv(tiny_run / "predicted.csv", dtype=str, keep_default_na=False)
    final = pd.read_csv(tiny_run / "subs" / "final.csv", dtype=str, keep_default_na=False)
    assert len(final) == 120 and predicted[["id", "y"]].equals(final)
    kept = json.loads((tiny_run / "models" / "folds" / "char_lr.raw.s0" / "fold0" / "model.json").read_text())
    assert kept["kind"] == "sklearn" and kept["fold"] == 0


FIGURES = ["figures/eda/class_counts.png", "figures/eda/text_lengths.png", "figures/eda/duplicates.png",
           "figures/experiments/char_lr.raw.s0.png", "figures/experiments/char_lr.cleaned.s0.png",
           "figures/ensembles/avg.png", "figures/final/final.png", "figures/final/disagreements.png",
           "figures/final/cv_vs_lb.png", "figures/adversarial/raw.png", "figures/adversarial/cleaned.png"]


def report_results(html: str) -> tuple[dict, dict]:
    """(path -> result entry, category -> subcategories) as Snakemake's HTML report embeds them."""
    found = {name: json.loads(re.search(rf'<script id="{name}">\s*var {name} = (.*);\n', html).group(1))
             for name in ("results", "categories")}
    return found["results"], found["categories"]


@pytest.fixture(scope="module")
def report_html(tiny_run) -> Path:
    snakemake(tiny_run, "--configfile", "tiny.yaml", "--report", "report.html")
    return tiny_run / "report.html"


@pytest.mark.slow
def test_the_report_holds_every_figure_in_its_category(report_html):
    results, categories = report_results(report_html.read_text(encoding="utf-8"))
    assert set(categories) == {"EDA", "experiments", "ensembles", "final submission", "adversarial validation"}
    assert set(FIGURES) <= set(results) and "figures/final/disagreements.csv" in results
    for path in FIGURES:
        assert results[path]["data_uri"].startswith("data:image/png") and results[path]["caption"], path
        png = base64.b64decode(results[path]["data_uri"].split(",", 1)[1])
        assert int.from_bytes(png[16:20], "big") <= 1000, path  # shown at its size in a 1400 px window
    assert "Weibo sentiment: what the run saw" in report_html.read_text(encoding="utf-8")


CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
# Appended to a copy of the report: the browser decodes every embedded figure and writes how many it could, and the
# report shows the final submission's figure, as a click on it would.
SHOW_FIGURES = """<script>
window.addEventListener("load", () => {
  const figures = Object.values(results).filter((entry) => entry.mime_type === "image/png");
  let decoded = 0, done = 0;
  const note = () => {
    const out = document.createElement("pre");
    out.id = "kit-figures";
    out.textContent = `decoded ${decoded} of ${figures.length}`;
    document.body.appendChild(out);
  };
  for (const entry of figures) {
    const image = new Image();
    image.onload = () => { decoded += image.naturalWidth > 0 ? 1 : 0; if (++done === figures.length) note(); };
    image.onerror = () => { if (++done === figures.length) note(); };
    image.src = entry.data_uri;
  }
  const show = () => {  // the report's React app sets the global `app` when it first renders
    if (typeof app === "undefined") return setTimeout(show, 50);
    app.showCategory("CATEGORY");
    setTimeout(() => app.setView({content: "img", contentPath: results["SHOWN"].data_uri, resultPath: "SHOWN"}), 50);
  };
  show();
});
</script>"""


def headless(report: Path, folder: Path, action: str, shown: str = "figures/final/final.png",
             category: str = "final submission", script: str | None = None,
             window: str = "1400,900") -> subprocess.CompletedProcess:
    """Chromium on a copy of the report (in folder) with SHOW_FIGURES showing the figure `shown` (or with `script`),
    without network, with a throwaway profile; action: --dump-dom or --screenshot=<png>."""
    folder.mkdir(exist_ok=True)
    script = script or SHOW_FIGURES.replace("SHOWN", shown).replace("CATEGORY", category)
    page = folder / "report.shown.html"
    head, end, tail = report.read_text(encoding="utf-8").rpartition("</body>")  # the embedded libraries hold some too
    page.write_text(head + script + end + tail, encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={folder / 'profile'}",
             f"--window-size={window}", "--virtual-time-budget=15000", "--hide-scrollbars"]
    return subprocess.run([CHROMIUM, *flags, action, page.as_uri()], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_the_report_renders_its_figures_in_a_headless_browser(report_html, tmp_path):
    from matplotlib.image import imread

    dom = headless(report_html, tmp_path, "--dump-dom").stdout
    count = re.search(r'<pre id="kit-figures">decoded (\d+) of (\d+)</pre>', dom)
    assert count and count.group(1) == count.group(2) == str(len(FIGURES)), dom[-2000:]
    headless(report_html, tmp_path, f"--screenshot={tmp_path / 'shot.png'}")
    pixels = (imread(tmp_path / "shot.png")[..., :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (900, 1400) and pixels.std() > 10  # not a blank page
    # The final figure's bars are filled with the figures' first colour: on screen, the figure was drawn.
    bar_colour = np.array([int(COLOURS[0][i : i + 2], 16) for i in (1, 3, 5)])
    assert (np.abs(pixels - bar_colour).max(axis=2) <= 2).sum() > 2000


# Appended to a copy of the report: where the landing page's title stands once the page has rendered.
TITLE_TOP = """<script>
window.addEventListener("load", () => {
  const note = () => {
    const title = document.querySelector("h1.title");  // docutils' title of report/workflow.rst
    if (!title) return setTimeout(note, 50);
    const out = document.createElement("pre");
    out.id = "kit-title";
    out.textContent = `title top ${Math.round(title.getBoundingClientRect().top)}`;
    document.body.appendChild(out);
  };
  note();
});
</script>"""


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_the_landing_page_shows_its_title_in_a_window_shorter_than_the_page(report_html, tmp_path):
    """Snakemake centres a page taller than the window, which cuts its top off where no scrolling reaches (the
    title went to -183 px at 1400x600); report/workflow.rst starts pages at the top."""
    for window in ("1400,1000", "1400,600"):
        dom = headless(report_html, tmp_path / window, "--dump-dom", script=TITLE_TOP, window=window).stdout
        top = re.search(r'<pre id="kit-title">title top (-?\d+)</pre>', dom)
        assert top and 0 <= int(top.group(1)) < 100, (window, dom[-2000:])


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Snakemake's dry-run job counts by rule ({} when there is nothing to do)."""
    result = snakemake(workdir, "-n", *args)
    return job_counts(result.stdout + result.stderr)


@pytest.mark.slow
def test_second_run_has_nothing_to_do(tiny_run):
    assert planned_jobs(tiny_run, "--configfile", "tiny.yaml") == {}


@pytest.mark.slow
def test_only_what_decides_the_numbers_reruns_jobs(tiny_run):
    """The same config with its keys in another order, or other threads and GPUs, plans nothing; a new seed plans
    its own fold jobs and what depends on them (the ensemble over all members, its submissions, their figures),
    nothing else."""
    config = yaml.safe_load((tiny_run / "tiny.yaml").read_text())
    reordered = {key: config[key] for key in reversed(list(config))}
    reordered["models"] = {"char_lr": {**dict(reversed(list(config["models"]["char_lr"].items()))), "threads": 2,
                                       "gpu": 1}}
    (tiny_run / "reordered.yaml").write_text(yaml.safe_dump(reordered, allow_unicode=True, sort_keys=True))
    assert planned_jobs(tiny_run, "--configfile", "reordered.yaml") == {}
    (tiny_run / "seeds.yaml").write_text(yaml.safe_dump({**config, "seeds": [0, 1]}, allow_unicode=True))
    assert planned_jobs(tiny_run, "--configfile", "seeds.yaml") == {
        "fit_fold": 6, "merge_folds": 2, "keep_models": 2, "ensemble": 1, "submission": 1, "final_submission": 1,
        "all": 1, "experiment_figure": 2, "ensemble_figure": 1, "final_figure": 1, "disagreements": 1}
    # keep_models decides no number: only its own cheap step runs again, to prune the fold models.
    (tiny_run / "keep.yaml").write_text(yaml.safe_dump({**config, "keep_models": "none"}, allow_unicode=True))
    assert planned_jobs(tiny_run, "--configfile", "keep.yaml") == {"keep_models": 2, "all": 1}
    # Tracking logs finished artifacts in a rule of its own: switching it on plans that rule and nothing else.
    (tiny_run / "tracking.yaml").write_text(yaml.safe_dump({**config, "tracking": "mlflow"}, allow_unicode=True))
    assert planned_jobs(tiny_run, "--configfile", "tracking.yaml") == {"track": 1, "all": 1}


@pytest.mark.parametrize(
    ("configfiles", "expected"),
    [
        ([], {"fit_fold": 60, "merge_folds": 12, "ensemble": 6, "submission": 6, "variant": 2, "build_backbone": 1,
              "pool": 1, "pseudo_rows": 1, "corpus": 1, "word_vectors": 1}),
        (["configs/competition.yaml", "configs/demo_data.yaml"],
         {"fit_fold": 250, "merge_folds": 50, "ensemble": 5, "submission": 5, "variant": 2, "corpus": 1,
          "word_vectors": 2, "post_train": 2}),
    ],
    ids=["default", "competition"],
)
def test_shipped_configs_plan_their_matrix(tmp_path, configfiles, expected):
    args = ["--configfile", *[str(REPO / c) for c in configfiles]] if configfiles else []
    jobs = planned_jobs(tmp_path, *args)
    assert {rule: jobs.get(rule, 0) for rule in expected} == expected
    assert jobs["ingest"] == jobs["folds"] == jobs["final_submission"] == 1


def planned_priorities(workdir: Path) -> dict[tuple[str, str], int]:
    """(rule, wildcards) -> priority of each job of Snakemake's dry run (0 where it prints none)."""
    jobs = {}
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", snakemake(workdir, "-n").stdout, flags=re.M)[1:]:
        fields = dict(re.findall(r"^ +(wildcards|priority): (.*)$", block, flags=re.M))
        jobs[(block.split()[1].rstrip(":"), fields.get("wildcards", ""))] = int(fields.get("priority", 0))
    return jobs


def test_the_longest_chain_is_scheduled_first(tmp_path):
    """Build steps, then the torch models' fold jobs, before everything else (rules/common.smk, Scheduling)."""
    by_priority: dict[int, list] = {}
    for (rule, wildcards), priority in planned_priorities(tmp_path).items():
        by_priority.setdefault(priority, []).append((rule, wildcards))
    assert sorted(by_priority) == [0, 1, 2]
    assert sorted(rule for rule, _ in by_priority[2]) == ["build_backbone", "corpus", "post_train", "word_vectors"]
    assert len(by_priority[1]) == 5
    assert all(rule == "fit_fold" and "model=tiny_bert," in wildcards for rule, wildcards in by_priority[1])
    assert len(by_priority[0]) > 40


@pytest.mark.slow
def test_a_pseudo_variant_trains_students_on_rows_its_teacher_labelled_fold_by_fold(tmp_path):
    files = make_demo(tmp_path / "raw", n_train=300, n_test=80, n_unlabeled=300, seed=6)
    config = {
        "data": {split: str(path) for split, path in files.items()}, "folds": {"k": 2, "seed": 0},
        "variants": ["cleaned"], "pool": {"unlabeled_rows": 150},
        "models": {"char": {"kind": "sklearn", "min_df": 1, "variants": ["cleaned", "pl"]},
                   "word": {"kind": "sklearn", "features": "word", "min_df": 1}},
        "ensembles": {"teacher": {"method": "mean", "members": ["char.cleaned.s0", "word.cleaned.s0"]}},
        "pseudo": {"pl": {"teacher": "teacher", "threshold": 0.5, "balance": "none"}},
    }
    (tmp_path / "pl.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    snakemake(tmp_path, "--configfile", "pl.yaml", "-j2", "oof/char.pl.s0/manifest.json")  # not the report's figures
    teacher = Artifact.load(tmp_path / "oof" / "ensemble.teacher")
    assert teacher.pool_logits.shape == (2, 80 - NOISE_EMPTY_TEST + 150, 3)
    student = Artifact.load(tmp_path / "oof" / "char.pl.s0")
    assert student.manifest["variant"] == "pl" and student.manifest["text_variant"] == "cleaned"
    pseudo = student.manifest["variant_manifest"]
    assert pseudo["teacher"] == "ensemble.teacher" and set(pseudo["rows_per_class_per_fold"]) == {"0", "1"}
    added = [fold["training_rows_added"]["pseudo_rows"] for fold in student.manifest["folds"]]
    assert all(added) and np.array_equal(student.ids, teacher.ids)  # the OOF rows stay as they are
    assert "teacher: ensemble.teacher" in subprocess.run(  # the members view names a pseudo variant's teacher
        [sys.executable, "-m", "kit", "scores", "--members"], cwd=tmp_path, capture_output=True, text=True,
        check=True).stdout


@pytest.mark.slow
def test_an_augment_variant_adds_copies_of_the_training_rows_only(tmp_path):
    files = make_demo(tmp_path / "raw", n_train=240, n_test=60, n_unlabeled=200, seed=8)
    config = {
        "data": {split: str(path) for split, path in files.items()}, "folds": {"k": 2, "seed": 0},
        "variants": ["cleaned", "eda"],
        "word_vectors": {"w2v": {"dim": 16, "min_count": 1, "epochs": 2}},
        "augment": {"eda": {"copies": 2, "synonyms": "w2v", "min_similarity": 0.0}},
        "models": {"char": {"kind": "sklearn", "min_df": 1}},
    }
    (tmp_path / "eda.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    snakemake(tmp_path, "--configfile", "eda.yaml", "-j2", "oof/char.eda.s0/manifest.json",
              "oof/char.cleaned.s0/manifest.json")
    augmented, plain = (Artifact.load(tmp_path / "oof" / name) for name in ("char.eda.s0", "char.cleaned.s0"))
    assert np.array_equal(augmented.ids, plain.ids) and np.array_equal(augmented.test_ids, plain.test_ids)
    folds = augmented.manifest["folds"]
    train_rows = [len(plain.ids) - int((plain.fold_of == fold["fold"]).sum()) for fold in folds]
    assert [fold["training_rows_added"]["augmented_rows"] for fold in folds] == [2 * n for n in train_rows]
    assert folds[0]["training_rows_added"]["operations"] == ["sr", "ri", "rs", "rd"]  # synonyms from the vectors
    assert augmented.manifest["variant"] == "eda" and augmented.manifest["text_variant"] == "cleaned"


@pytest.mark.slow
def test_a_users_family_variant_and_method_plug_in_from_their_module(tmp_path):
    """Nothing in kit/ is edited: the config names the module, and plan time and every job import it."""
    files = make_demo(tmp_path / "raw", n_train=200, n_test=50, n_unlabeled=50, seed=2)
    (tmp_path / "my_plugin.py").write_text(PLUGIN, encoding="utf-8")
    config = {
        "data": {"train": str(files["train"]), "test": str(files["test"])},
        "plugins": ["my_plugin"], "folds": {"k": 2, "seed": 0}, "variants": ["shout"],
        "models": {"prior": {"kind": "prior", "smoothing": 2.0}, "lr": {"kind": "sklearn", "min_df": 1}},
        "ensembles": {"head": {"method": "first", "members": ["prior.shout.s0", "lr.shout.s0"]}},
    }
    (tmp_path / "plug.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    snakemake(tmp_path, "--configfile", "plug.yaml", "-j2", "oof/ensemble.head/manifest.json")  # nor here
    prior = Artifact.load(tmp_path / "oof" / "prior.shout.s0")
    assert prior.manifest["family"] == "prior" and prior.manifest["params"] == {"smoothing": 2.0}
    assert (prior.oof_logits.argmax(1) == prior.oof_logits[0].argmax()).all()
    assert pd.read_parquet(tmp_path / "data" / "variants" / "shout" / "train.parquet")["text"].str.isupper().any()
    ensemble = Artifact.load(tmp_path / "oof" / "ensemble.head")
    assert np.array_equal(ensemble.test_logits.argmax(1), prior.test_logits.argmax(1))
    broken = {**config, "models": {"prior": {"kind": "prior", "smoothing": -1}}}
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken, allow_unicode=True))
    result = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-n", "--configfile",
                             "broken.yaml"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0 and "config key 'models.prior.smoothing': must be at least 0" in result.stdout + result.stderr


@pytest.mark.slow
def test_jobs_import_the_kit_from_the_workflows_own_folder(tmp_path):
    """What makes env.yaml work under --sdm conda: a job's environment need not have the kit installed, because
    every job imports it from the checkout whose Snakefile runs (here a copy that says so in its version)."""
    checkout = tmp_path / "checkout"
    for part in ("Snakefile", "rules", "kit", "configs", "env.yaml"):
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            checkout.mkdir(exist_ok=True)
            shutil.copy(source, checkout / part)
    init = checkout / "kit" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "copy-'), encoding="utf-8")
    files = make_demo(tmp_path / "raw", n_train=150, n_test=50, n_unlabeled=50, seed=4)
    config = {"data": {"train": str(files["train"]), "test": str(files["test"])}, "folds": {"k": 2, "seed": 0},
              "variants": ["raw"], "models": {"lr": {"kind": "sklearn", "min_df": 1}}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    command = [sys.executable, "-m", "snakemake", "-s", str(checkout / "Snakefile"), "--configfile", "c.yaml", "-j1",
               "oof/lr.raw.s0/manifest.json"]
    subprocess.run(command, cwd=tmp_path, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": ""})
    manifest = json.loads((tmp_path / "oof" / "lr.raw.s0" / "manifest.json").read_text())
    assert manifest["kit_version"].startswith("copy-")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="finds the fold job through /proc")
def test_a_scratch_transformer_makes_an_artifact_and_a_killed_fold_job_resumes(tmp_path):
    """A scratch transformer through Snakemake to a valid experiment artifact; then the resume contract end to end:
    SIGKILL a fold job after its first checkpoint, let Snakemake fail, run Snakemake again: the job resumes from
    the checkpoint (outside the rule's outputs) and writes the same logits as the uninterrupted run."""
    files = make_demo(tmp_path / "raw", n_train=240, n_test=50, n_unlabeled=50, seed=5)
    tiny = {
        "kind": "transformer", "gpu": 1, "threads": 1, "head": "mean", "max_len": 32, "epochs": 2,
        "batch_size": 4, "lr": 0.003, "checkpoint_every_steps": 10,
        "backbone": {"scratch": {"layers": 1, "hidden": 32, "heads": 2, "intermediate": 64, "max_position": 64}},
    }
    config = {
        "data": {"train": str(files["train"]), "test": str(files["test"])},
        "folds": {"k": 2, "seed": 0}, "variants": ["raw"], "models": {"tiny": tiny}, "ensembles": {},
    }
    target = "oof/tiny.raw.s0/fold0.npz"
    workdir = tmp_path / "run"
    workdir.mkdir()
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    snakemake(workdir, "--configfile", "tiny.yaml", "-j2", "oof/tiny.raw.s0/manifest.json")
    artifact = Artifact.load(workdir / "oof" / "tiny.raw.s0")  # the scratch transformer's experiment, validated
    assert artifact.manifest["family"] == "transformer" and artifact.oof_logits.shape == (len(artifact.ids), 3)
    straight = np.load(workdir / target)
    (workdir / target).unlink()  # Snakemake runs the job again; this time it is killed after its first checkpoint

    checkpoint = workdir / "checkpoints" / "tiny.raw.s0" / "fold0" / CHECKPOINT
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", "tiny.yaml", "-j1", target]
    first = subprocess.Popen(command, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    pids = fit_fold_pids(workdir)
    assert checkpoint.exists() and pids, "the fold job ended or never checkpointed before it could be killed"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert first.wait(timeout=60) != 0 and not (workdir / target).exists()

    snakemake(workdir, "--configfile", "tiny.yaml", "-j1", target)
    log = (workdir / "logs" / "fit" / "tiny.raw.s0.fold0.log").read_text()
    assert "resuming from checkpoint: epoch" in log
    runs = {"straight": straight, "killed": np.load(workdir / target)}
    for key in ("valid_ids", "valid_logits", "test_ids", "test_logits"):
        assert np.array_equal(runs["straight"][key], runs["killed"][key]), key
    info = {name: json.loads(str(run["meta"]))["info"] for name, run in runs.items()}
    assert info["straight"]["resumed_from"] is None and info["killed"]["resumed_from"] is not None
    assert info["killed"]["history"] == info["straight"]["history"]
    assert not checkpoint.exists()  # removed after success


@pytest.mark.slow
def test_a_second_seed_of_a_deterministic_model_runs_to_the_final_submission(tiny_run):
    """Its artifacts are copies, or near copies, of the first seed's: every ensemble is still written (a stacker's
    features are then collinear), and a fitted ensemble drops an exact copy with a note."""
    config = yaml.safe_load((tiny_run / "tiny.yaml").read_text())
    config |= {"seeds": [0, 1], "ensembles": {"avg": {"method": "mean", "members": "all"},
                                              "stack": {"method": "stack", "members": "all"},
                                              "blend": {"method": "weighted", "members": "all"}}}
    (tiny_run / "two_seeds.yaml").write_text(yaml.safe_dump(config, allow_unicode=True))
    snakemake(tiny_run, "--configfile", "two_seeds.yaml", "-j2", "subs/final.csv",
              *[f"subs/ensemble.{name}.csv" for name in config["ensembles"]])
    seeds = [Artifact.load(tiny_run / "oof" / f"char_lr.raw.s{seed}") for seed in (0, 1)]
    identical = np.array_equal(seeds[0].oof_logits, seeds[1].oof_logits)
    for name in config["ensembles"]:
        manifest = json.loads((tiny_run / "oof" / f"ensemble.{name}" / "manifest.json").read_text())
        assert ("char_lr.raw.s1" in manifest["dropped_duplicates"]) == identical, name
    assert (tiny_run / "subs" / "final.csv").is_file()
    assert yaml.safe_load((tiny_run / "logs" / "run_config.yaml").read_text(encoding="utf-8"))["seeds"] == [0, 1]


@pytest.mark.slow
def test_a_run_on_other_data_in_the_same_folder_leaves_nothing_of_the_earlier_run_beside_its_own(tiny_run):
    """The module's last test: it points tiny_run's config at other files under the same names."""
    files = make_demo(tiny_run / "raw_other", n_train=160, n_test=60, n_unlabeled=50, seed=5)
    for split in ("train", "test"):
        files[split].replace(tiny_run / "comp" / f"{split}.csv")
    out = snakemake(tiny_run, "--configfile", "tiny.yaml", "-j2", "subs/final.csv")
    assert "of an earlier run to stale/" in out.stderr
    # The earlier run's other submission and every figure it drew are aside (some already by the module's earlier
    # runs, which drew them anew); the new final submission stays.
    why = {path: reason for folder in (tiny_run / "stale").iterdir()
           for path, reason in json.loads((folder / "why.json").read_text()).items()}
    assert {"subs/ensemble.avg.csv", "subs/ensemble.avg.json", "figures/experiments/char_lr.raw.s0.png",
            "figures/eda/class_counts.png", "figures/final/final.png"} <= set(why)
    assert sorted(p.name for p in (tiny_run / "subs").iterdir() if p.name != ".gitkeep") == ["final.csv", "final.json"]
    assert len(pd.read_csv(tiny_run / "subs" / "final.csv")) == len(pd.read_parquet(tiny_run / "data/interim/test.parquet"))
    # Only the CV-vs-LB figure stays: drawn from lb.csv alone (none here), it belongs to no run's data.
    left = [p.relative_to(tiny_run).as_posix() for p in (tiny_run / "figures").rglob("*") if p.is_file()]
    assert left in ([], ["figures/final/cv_vs_lb.png"])
    scores = json.loads(subprocess.run([sys.executable, "-m", "kit", "scores", "--json"], cwd=tiny_run,
                                       capture_output=True, text=True, check=True).stdout)
    fold_hashes = {json.loads((tiny_run / "oof" / name / "manifest.json").read_text())["fold_hash"]
                   for name in ("char_lr.raw.s0", "ensemble.avg")}
    assert len(fold_hashes) == 1 and scores
