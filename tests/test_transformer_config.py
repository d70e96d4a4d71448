"""kit.models.transformer.config: flat YAML entries -> typed groups, with errors that name the field."""

import subprocess
import sys
from pathlib import Path

import pytest

from kit.models.transformer.config import TransformerConfig, config_to_params, parse_config
from kit.settings import keys_of


def test_defaults_follow_the_issue():
    config = parse_config({"backbone": "hfl/chinese-roberta-wwm-ext"})
    assert config.backbone.max_len == 192
    assert (config.optimizer.lr, config.optimizer.llrd) == (2e-5, 0.95)
    assert config.head.dropout == 0.2
    assert config.schedule.epochs == 3 and config.schedule.amp == "auto"
    assert config.epoch_policy.epoch_policy == "fixed"


def test_keys_are_routed_to_their_groups_and_yaml_loose_types_coerced():
    config = parse_config({
        "backbone": "b", "head": "textcnn", "cnn_kernels": [2, 3], "lr": "2e-5", "weight_decay": 0,
        "class_weights": [1, 2, 3], "adversarial": "pgd", "epoch_policy": "inner_early_stopping",
    })
    assert config.head.cnn_kernels == (2, 3)
    assert config.optimizer.lr == 2e-5 and isinstance(config.optimizer.weight_decay, float)
    assert config.loss.class_weights == (1.0, 2.0, 3.0)
    assert config.adversarial.adversarial == "pgd"
    assert config.epoch_policy.epoch_policy == "inner_early_stopping"


def test_config_round_trips_through_flat_params():
    config = parse_config({"backbone": "b", "head": "bigru", "rnn_hidden": 16, "class_weights": "balanced"})
    params = config_to_params(config)
    assert set(params) == set(keys_of(TransformerConfig))
    assert parse_config(params) == config


@pytest.mark.parametrize(
    "params, field",
    [
        ({}, "backbone"),
        ({"backbone": "b", "bogus": 1}, "bogus"),
        ({"backbone": "b", "head": "attention"}, "head"),
        ({"backbone": "b", "lr": "fast"}, "lr"),
        ({"backbone": "b", "epochs": True}, "epochs"),
        ({"backbone": "b", "epochs": 0}, "epochs"),
        ({"backbone": "b", "dropout": 1.0}, "dropout"),
        ({"backbone": "b", "llrd": 1.5}, "llrd"),
        ({"backbone": "b", "max_len": 4}, "max_len"),
        ({"backbone": "b", "class_weights": "inverse"}, "class_weights"),
        ({"backbone": "b", "class_weights": [1, -1, 1]}, "class_weights"),
        ({"backbone": "b", "amp": "fp8"}, "amp"),
        ({"backbone": "b", "inner_fraction": 0.7}, "inner_fraction"),
        ({"backbone": "b", "cnn_kernels": []}, "cnn_kernels"),
        ({"backbone": "b", "loss": "focal", "label_smoothing": 0.1}, "label_smoothing"),
    ],
)
def test_invalid_entries_raise_naming_the_field(params, field):
    with pytest.raises(ValueError, match=field):
        parse_config(params)


def test_a_scratch_backbone_is_checked_at_plan_time():
    config = parse_config({"backbone": {"scratch": {"layers": 1, "hidden": 32, "heads": 2, "max_position": 64}},
                           "max_len": 64})
    assert config.backbone.backbone.scratch.hidden == 32
    with pytest.raises(ValueError, match=r"max_len.*exceeds the scratch backbone's max_position 64"):
        parse_config({"backbone": {"scratch": {"max_position": 64}}, "max_len": 96})
    with pytest.raises(ValueError, match=r"scratch\.hidden.*multiple of heads"):
        parse_config({"backbone": {"scratch": {"hidden": 30, "heads": 4}}})


def test_a_non_mapping_entry_is_refused():
    with pytest.raises(ValueError, match="mapping"):
        parse_config(["backbone", "b"])


def test_importing_the_config_and_family_does_not_import_torch():
    code = ("import sys, kit.models.transformer.config, kit.models.transformer; "
            "sys.exit(1 if {'torch', 'transformers'} & set(sys.modules) else 0)")
    repo = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True).returncode == 0


def test_built_backbones_are_shared_by_spec_and_a_post_training_reads_its_scratch_base():
    from types import SimpleNamespace

    from kit import layout
    from kit.models.transformer.config import (built_backbones, post_train_entries, post_train_inputs,
                                               scratch_entries, scratch_inputs)

    scratch = {"scratch": {"layers": 1, "hidden": 32, "heads": 2}}
    entries = {name: SimpleNamespace(params=parse_config(params)) for name, params in (
        ("a", {"backbone": {"post_train": {"base": scratch}}}), ("b", {"backbone": {"post_train": {"base": scratch}}}),
        ("hub", {"backbone": "hfl/chinese-roberta-wwm-ext"}))}
    config = SimpleNamespace(models=entries, data=SimpleNamespace(unlabeled=None))
    assert sorted(folder.split("-")[0] for folder in built_backbones(config)) == ["post", "scratch"]
    (post_hash, post), = post_train_entries(config).items()
    (scratch_hash, spec), = scratch_entries(config).items()
    assert post_train_inputs(config, post_hash, post)["base_dir"] == [layout.backbone(f"scratch-{scratch_hash}")]
    assert scratch_inputs(config, scratch_hash, spec) == {"texts": [layout.interim("train"), layout.interim("test")]}
