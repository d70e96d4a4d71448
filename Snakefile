# The kit's workflow: competition files -> folds -> (model x seed x variant x fold) OOF/test logits
# -> experiment artifacts -> ensembles -> subs/final.csv. See docs/architecture.md.
import os
import shlex

from snakemake.utils import min_version

from kit.config import lists_models

min_version("8.0")

# Every job imports the kit from this checkout, also inside an environment built from env.yaml (--sdm conda).
shell.prefix(
    f"set -euo pipefail; export PYTHONPATH={shlex.quote(workflow.basedir)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)


# A --configfile that lists its own `models:` (configs/competition.yaml) replaces the default experiment;
# one that holds only `data:` runs the default matrix on other files. `--config` values merge into whichever it is
# (`--config 'models={tfidf_word_lr: {C: 2.0}}'` changes one key of one entry).
if not any(lists_models(path) for path in workflow.overwrite_configfiles):

    configfile: os.path.join(workflow.basedir, "configs", "config.yaml")


include: "rules/common.smk"


# `snakemake --report report.html` on a finished run: this description (rendered with the config) and the figures.
report: "report/workflow.rst"


rule all:
    input:
        all_targets(),


# The config of the run that builds this folder's artifacts, for `kit scores` (logs/run_config.yaml).
onstart:
    record_run_config()


# What an earlier run left in this folder (another fold file, figures of other data) goes to stale/ (kit/stale.py).
onsuccess:
    set_aside_earlier_runs()


include: "rules/data.smk"
include: "rules/corpus.smk"
include: "rules/models.smk"
include: "rules/pseudo.smk"
include: "rules/ensemble.smk"
include: "rules/submit.smk"
include: "rules/report.smk"
include: "rules/adversarial.smk"
include: "rules/leaderboard.smk"
include: "rules/tracking.smk"
