"""kit.registry: declarations registered once, looked up with near names, plugins imported from the user's modules."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from kit import registry
from kit import layout
from kit.registry import BuildStep, Family, Method, Variant, VariantKind, load_plugins, lookup, register, resolve
from kit.settings import Settings, SettingsError, setting


@dataclass
class ToyParams(Settings):
    strength: float = setting(1.0, "how strong", gt=0)


@dataclass
class ToyKind(Settings):
    base_variant: str = setting("raw", "the text variant it builds on")


@pytest.fixture
def scratch_registries(monkeypatch):
    registry.names(registry.FAMILIES)
    for table in (registry.FAMILIES, registry.METHODS, registry.VARIANTS, registry.VARIANT_KINDS, registry.BUILD_STEPS):
        monkeypatch.setattr(table, "entries", dict(table.entries))
        monkeypatch.setattr(table, "origin", dict(table.origin))


def test_the_kits_own_declarations_are_there():
    assert {"sklearn", "transformer"} <= set(registry.names(registry.FAMILIES))
    assert all(registry.family(kind).load_predictor for kind in ("sklearn", "transformer"))  # both can be kept
    assert {"mean", "caruana", "stack", "vote_multiround"} <= set(registry.names(registry.METHODS))
    assert registry.method("vote_multiround").min_members == 3 and registry.method("caruana").fitted
    assert registry.names(registry.VARIANT_KINDS) == ["pseudo", "augment"]
    assert registry.variant_kind("pseudo").manifest == "manifest" and registry.variant_kind("augment").inputs
    assert not registry.method("mean").fitted


def test_lookup_names_the_key_and_the_near_names():
    with pytest.raises(SettingsError, match=r"config key 'models\.m\.kind': unknown model kind 'transfomer'; "
                                            r"did you mean 'transformer'"):
        lookup(registry.FAMILIES, "transfomer", "models.m.kind")


def test_register_refuses_a_second_meaning_and_accepts_the_same_one_again(scratch_registries):
    toy = Family("toy", ToyParams, "mymodule:fit_predict")
    register(toy)
    register(toy)
    with pytest.raises(ValueError, match="already registered"):
        register(Family("toy", ToyParams, "other:fit_predict"))
    assert registry.family("toy") is toy


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        (Family("toy", dict, "m:f"), "params must be a kit.settings.Settings dataclass"),
        (Family("toy", ToyParams, "no_colon"), "fit_predict must be a callable or 'module:function'"),
        (Method("toy", ToyParams, True, "m:fit", 3), "apply must be a callable"),
        (Family("toy", ToyParams, "m:f", load_predictor="no_colon"), "load_predictor must be a callable"),
        (Family("toy", ToyParams, "m:f", inputs="no_colon"), "inputs must be a callable"),
        (Family("to y", ToyParams, "m:f"), "must match"),
        (Variant("Toy", str.upper), "must match"),
        (VariantKind("toy", ToyParams, "m:rows"), "its params need a base_variant"),
        (VariantKind("toy", ToyKind, "no_colon"), "rows must be a callable"),
        (VariantKind("toy", ToyKind, "m:rows", check="no_colon"), "check must be a callable"),
        (VariantKind("Toy", ToyKind, "m:rows"), "must match"),
        (BuildStep("toy", ToyParams, "toy", "m:build", "m:inputs", "no_colon"), "outputs must be a callable"),
        (BuildStep("toy", ToyParams, "toy", "m:build", None, "m:outputs"), "inputs must be a callable"),
        (BuildStep("toy", ToyParams, "toy", "m:build", "m:i", "m:o", reads={"Bad-Role": "x"}), "role 'Bad-Role'"),
        (BuildStep("toy", ToyParams, "toy", "m:build", "m:i", "m:o", reads={"a": "x"}, many=("b",)),
         r"many names roles it does not declare: \['b'\]"),
        (BuildStep("toy", ToyParams, "toy", "m:build", "m:i", "m:o", writes={"a": "x"}, folders=("c",)),
         r"folders names roles it does not declare"),
        (BuildStep("toy", ToyParams, "toy", "m:build", "m:i", "m:o", named=True), "named entries need a wildcard"),
    ],
)
def test_register_refuses_malformed_declarations(scratch_registries, declaration, message):
    with pytest.raises(ValueError, match=message):
        register(declaration)


def test_resolve_imports_what_a_string_names():
    assert resolve("kit.cleaning:clean_text")("醫護") == "医护"
    assert resolve(str.upper) is str.upper


def test_plugins_load_from_the_working_directory(tmp_path, monkeypatch, scratch_registries):
    (tmp_path / "my_plugin.py").write_text(
        "from kit.registry import Variant, register\nregister(Variant('shout', str.upper))\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins(["my_plugin"])
    assert registry.variant("shout").transform("ok") == "OK"
    with pytest.raises(ValueError, match=r"'plugins': cannot import plugin module 'not_there'"):
        load_plugins(["not_there"])


def test_a_plugin_cannot_add_a_build_step(tmp_path, monkeypatch, scratch_registries):
    # Rules are static: a plugin's build step would have no rule and no command, so loading it is refused by name.
    (tmp_path / "step_plugin.py").write_text(
        "from kit.registry import BuildStep, register\nfrom kit.settings import Settings\n"
        "register(BuildStep('mine', Settings, 'mine', 'm:build', 'm:inputs', 'm:outputs'))\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match=r"'plugins': module 'step_plugin' registers build step 'mine'.*own rule"):
        load_plugins(["step_plugin"])


def test_the_build_steps_declare_their_settings_files_and_logs():
    assert registry.names(registry.BUILD_STEPS) == ["build_backbone", "post_train", "pseudo_rows", "corpus",
                                                    "word_vectors"]
    for name in registry.names(registry.BUILD_STEPS):
        step = registry.build_step(name)
        entry = "{x}" if step.wildcard else name
        # What it writes is what its command's --out-<role> options name, the paths kit.layout's.
        assert set(resolve(step.outputs)(entry)) == set(step.writes), name
        # Every role becomes a command option, whose help is the role's.
        assert all(step.reads.values()) and all(step.writes.values()), name
    assert resolve(registry.build_step("word_vectors").outputs)("w2v") == layout.word_vectors("w2v")
    assert resolve(registry.build_step("corpus").outputs)("corpus") == layout.corpus_files()
    assert resolve(registry.build_step("pseudo_rows").log)("pl") == "logs/pseudo/pl.log"
    assert registry.build_step("word_vectors").entry_key("w2v") == "word_vectors.w2v"
    assert registry.build_step("corpus").entry_key("corpus") == "corpus"
    assert registry.build_step("post_train").folders == ("backbone",)
