"""What an edit of the config re-runs after a finished default run (rules/common.smk): exactly what it changes.

The finished run is made without running anything: every output of the default matrix is created empty and
`snakemake --touch` records each job's provenance (params, code, input) as a real run would. Snakemake then
decides what to re-run from that record alone, which is what these tests hold it to.
"""

import ast
import copy
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kit import config as kit_config
from kit.settings import Settings
from tests.conftest import PLUGIN, job_counts, snakemake

REPO = Path(__file__).resolve().parents[1]
DEFAULT = yaml.safe_load((REPO / "configs" / "config.yaml").read_text(encoding="utf-8"))

UNRELATED_PLUGIN = """
from kit.registry import Variant, register

register(Variant("whisper", str.lower, help="lower case"))
"""


def planned(workdir: Path, config: dict | None = None, *args: str) -> dict[str, int]:
    """The dry run's job counts by rule for config (the default when None); {} when there is nothing to do."""
    if config is not None:
        (workdir / "edit.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        args = ("--configfile", "edit.yaml", *args)
    return job_counts(snakemake(workdir, "-n", *args))


def finish_without_running(workdir: Path, *args: str) -> None:
    """Every output of the plan, created empty (folders for the rules' folder outputs, all under models/, where the
    files are JSON or word vectors), then
    `--touch` so that Snakemake records each job as run."""
    summary = snakemake(workdir, "--summary", *args).splitlines()
    header = next(i for i, line in enumerate(summary) if line.startswith("output_file\t"))
    for line in summary[header + 1:]:
        path = workdir / line.split("\t")[0]
        if path.parts[len(workdir.parts)] == "models" and path.suffix not in (".json", ".kv"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    snakemake(workdir, "--touch", "--forceall", "-j1", *args)


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("finished")
    finish_without_running(workdir)
    assert planned(workdir) == {}
    return workdir


def edited(change) -> dict:
    config = copy.deepcopy(DEFAULT)
    change(config)
    return config


ALL_ENSEMBLES = 5  # mean, caruana, weighted_f1, stack_lr, vote_rounds: members all (teacher names its own)
FINAL = {"final_submission": 1, "final_figure": 1, "disagreements": 1, "all": 1}


def artifact_jobs(ensembles: int, experiments: int = 0, pseudo_rows: int = 0) -> dict[str, int]:
    """What an experiment's new numbers re-run downstream: its figure and retention, the ensembles over it, their
    submissions and figures, and the final submission."""
    jobs = {"ensemble": ensembles, "ensemble_figure": ensembles, "submission": ensembles, **FINAL}
    if experiments:
        jobs |= {"fit_fold": 5 * experiments, "merge_folds": experiments, "experiment_figure": experiments,
                 "keep_models": experiments}
    return jobs | ({"pseudo_rows": pseudo_rows} if pseudo_rows else {})


@pytest.mark.slow
def test_each_edit_plans_exactly_what_it_changes(finished):
    def add_ensemble(config):
        config["ensembles"]["pair"] = {"method": "mean", "members": ["tfidf_char_lr.raw.s0", "tfidf_word_lr.raw.s0"]}

    table = [
        ("nothing", lambda config: None, {}),
        ("add an ensemble", add_ensemble, artifact_jobs(ensembles=1)),
        ("change final", lambda config: config.update(final="mean"), FINAL),
        ("change keep_models", lambda config: config.update(keep_models="all"), {"keep_models": 12, "all": 1}),
        # tfidf_word_lr is a member of the teacher, so the three pseudo-labelled students learn anew.
        ("change C of tfidf_word_lr", lambda config: config["models"]["tfidf_word_lr"].update(C=2.0),
         artifact_jobs(ensembles=6, experiments=5, pseudo_rows=1)),
        ("add a seed", lambda config: config.update(seeds=[0, 1]),
         artifact_jobs(ensembles=ALL_ENSEMBLES, experiments=12)),
    ]
    for what, change, expected in table:
        assert planned(finished, edited(change)) == expected, what


@pytest.mark.slow
def test_a_data_file_with_a_new_time_reruns_only_when_its_bytes_changed(tmp_path):
    """profiles/default's max-checksum-file-size: Snakemake compares a newer input's checksum with the one it
    recorded, for files up to that size (its own default, 1 MB, is smaller than this train file)."""
    finish_without_running(tmp_path)
    train = tmp_path / DEFAULT["data"]["train"]
    train.write_bytes(b"x" * 1_500_000)
    snakemake(tmp_path, "--touch", "--forceall", "-j1")  # recorded as a run on these bytes
    later = train.stat().st_mtime + 60
    os.utime(train, (later, later))  # copied or unpacked again: the same bytes, a new time
    assert planned(tmp_path) == {}
    train.write_bytes(b"y" * 1_500_000)
    os.utime(train, (later + 60, later + 60))
    plan = planned(tmp_path)
    assert plan["ingest"] == 1 and plan["fit_fold"] == 60 and "demo_data" not in plan, plan


def identity_free_fields(obj, path=()):
    """(path, field, value) of every field of a parsed settings tree that is marked as not deciding the numbers;
    path: the keys above it in the YAML entry (a flattened group adds none)."""
    for field in dataclasses.fields(obj):
        value = getattr(obj, field.name)
        if not field.metadata.get("identity", True):
            yield path, field, value
        if isinstance(value, Settings):
            yield from identity_free_fields(value, path if field.metadata.get("flatten") else (*path, field.name))
        elif isinstance(getattr(value, "post_train", None), Settings):  # backbone: {post_train: {...}}
            yield from identity_free_fields(value.post_train, (*path, field.name, "post_train"))


def another_value(field, value):
    """A valid value other than value for a field that decides no number."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if value is None:
        return 1
    if field.name == "probes":
        return ["疫情"]
    raise AssertionError(f"no other value for {field.name}={value!r}")


@pytest.mark.slow
def test_no_field_that_decides_no_number_plans_a_job(finished):
    """Every field marked identity=False in the default config's entries, changed at once, plans nothing. The
    scheduling keys that choose experiments (a model's seeds and variants) and keep_models (a cheap step of its own,
    in the table above) are not in the walk."""
    parsed = kit_config.load(DEFAULT)
    config = copy.deepcopy(DEFAULT)
    changed = []
    for block in ("models", "word_vectors"):
        for name, entry in getattr(parsed, block).items():
            parts = (entry.common, entry.params) if block == "models" else (entry,)
            for path, field, value in (found for part in parts for found in identity_free_fields(part)):
                if field.name in ("seeds", "variants"):
                    continue
                target = config[block][name]
                for key in path:
                    target = target[key]
                target[field.name] = another_value(field, value)
                changed.append(".".join((block, name, *path, field.name)))
    assert {"models.tiny_bert.checkpoint_minutes", "models.tiny_bert.predict_batch_size", "models.tiny_bert.threads",
            "models.tiny_bert.gpu", "models.tiny_bert.backbone.post_train.checkpoint_minutes",
            "word_vectors.w2v.probes"} <= set(changed)
    assert planned(finished, config) == {}, changed


@pytest.mark.slow
def test_a_plugin_reruns_what_it_computes_and_nothing_else(finished):
    (finished / "prior_plugin.py").write_text(PLUGIN, encoding="utf-8")
    (finished / "whisper_plugin.py").write_text(UNRELATED_PLUGIN, encoding="utf-8")
    # Another plugin module that registers what no entry uses: nothing.
    assert planned(finished, edited(lambda config: config.update(plugins=["whisper_plugin"]))) == {}
    # Adding the plugin and a model of its family: that model's jobs and the ensembles over all members.
    with_prior = edited(lambda config: config.update(plugins=["prior_plugin", "whisper_plugin"]))
    with_prior["models"]["prior"] = {"kind": "prior", "variants": ["cleaned"]}
    assert planned(finished, with_prior) == artifact_jobs(ensembles=ALL_ENSEMBLES, experiments=1)
    # An edit of the plugin's code changes the identity hash its fold jobs carry as their param (the rows above
    # show that a changed identity plans exactly that model's jobs); an edit of the unrelated plugin changes none.
    # In a process of its own: a plugin registers its family for the life of the process.
    (finished / "with_prior.yaml").write_text(yaml.safe_dump(with_prior, allow_unicode=True), encoding="utf-8")
    hashes = ("import yaml\nfrom kit import config\n"
              "c = config.load(yaml.safe_load(open('with_prior.yaml', encoding='utf-8')))\n"
              "print({e.model: config.experiment_config_hash(c, e) for e in config.matrix(c)})")

    def identities() -> dict:
        result = subprocess.run([sys.executable, "-c", hashes], cwd=finished, capture_output=True, text=True,
                                check=True, env={**os.environ, "PYTHONPATH": str(REPO)})
        return ast.literal_eval(result.stdout)

    before = identities()
    (finished / "prior_plugin.py").write_text(PLUGIN.replace("+ params.smoothing", "+ 2 * params.smoothing"),
                                              encoding="utf-8")
    (finished / "whisper_plugin.py").write_text(UNRELATED_PLUGIN + "# edited\n", encoding="utf-8")
    after = identities()
    assert [model for model in before if before[model] != after[model]] == ["prior"]


@pytest.mark.slow
def test_config_overrides_on_the_command_line_are_read_by_their_fields_type(finished):
    assert planned(finished, None, "--config", "seeds=[0, 1]") == artifact_jobs(ensembles=ALL_ENSEMBLES,
                                                                               experiments=12)
    # A partial models= override merges into the default models rather than replacing them.
    assert planned(finished, None, "--config", "models={tfidf_word_lr: {C: 2.0}}") == artifact_jobs(
        ensembles=6, experiments=5, pseudo_rows=1)
