# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Classifier fine-tuning (Table 7 and Figure 4)
#
# Table 7 compares ten ways of fine-tuning the classifier: from scratch, all layers at once ("full"),
# the last layer only, chain-thaw, gradual unfreezing ("freez"), and combinations with discriminative rates,
# STLR and cosine annealing. The claim: gradual unfreezing with discriminative rates and STLR (ULMFiT) is
# best. Figure 4 adds the per-epoch validation error of "full" and ULMFiT, with and without LM fine-tuning:
# "full" peaks early and then overfits; ULMFiT stays stable.
#
# As in the paper, every method but ULMFiT uses early stopping: it trains the whole schedule and keeps the
# weights of its best validation epoch (the record names that epoch and keeps the per-epoch history, which
# Figure 4 plots); ULMFiT keeps the weights of its last epoch.

# %% tags=["parameters"]
scale = "smoke"        # smoke | reduced | gpu | paper
datasets = None        # None: IMDb, TREC-6, AG
seeds = None           # None: the scale's seeds for each dataset
device = "auto"        # auto | cpu | cuda
data_dir = None        # None: $ULMFIT_DATA or ../shared/data
results_dir = None     # None: $ULMFIT_RESULTS or results/
cache_dir = None       # None: $ULMFIT_CACHE or .cache/

# %%
from ulmfit_core import settings
from ulmfit_core.harness import studies

settings.configure(data=data_dir, results=results_dir, cache=cache_dir)
study = studies.classifier_finetuning(scale, datasets, seeds, device)

# %% [markdown]
# ## The paper's numbers beside ours
# Errors in %, mean ± standard deviation over seeds (n = number of seeds).

# %%
# NBVAL_CHECK_OUTPUT
study.table

# %%
study.image()

# %% [markdown]
# ## Verdicts
# Each claim compares the two arms **paired** — same seeds, same examples — with a bootstrap
# over seeds and examples. "holds": the 95% interval excludes 0 in the paper's direction;
# "contradicted": it excludes 0 the other way; "inconclusive": it contains 0 (the smallest effect this
# comparison could detect is given).

# %%
# NBVAL_CHECK_OUTPUT
study.verdict_table()

# %% [markdown]
# ## Schedule lengths chosen on validation
# The paper trains the classifier for up to 50 epochs; a CPU scale affords far fewer, and with one epoch
# per unfreezing stage ULMFiT spends four of them partly frozen. So before any other run of the scale,
# each dataset chooses how many epochs of LM fine-tuning, of classifier training and of training from
# scratch it needs: each candidate is run with seed 0, every LM candidate followed by the longest
# classifier candidate, and the shortest candidate is chosen that no longer one beats by more than one
# standard error of the validation error (test error plays no part). When the longest candidate wins,
# validation error may still be falling, so a candidate twice as long is added (at most twice); a choice
# still at the longest schedule tried says so. The choices are recorded in `results/<scale>/choices/`;
# "used at this scale" marks the setting of every run of the book.

# %%
# NBVAL_CHECK_OUTPUT
studies.epoch_choices(scale, datasets, device=device)

# %% [markdown]
# ## At which peak rate
# With those schedules, twice the paper's peak rate against the paper's own, for ULMFiT and for
# training from scratch, on validation error with seed 0:

# %%
# NBVAL_CHECK_OUTPUT
studies.rate_check(scale, datasets, device=device)

# %% [markdown]
# ## Reproducibility
# The compute time of the runs behind this page, and a check value that changes with almost any change
# to the numerics (the tests re-run this notebook at the `smoke` scale and compare it).

# %%
print(f"{scale} scale; compute time of the runs behind this page: {study.wall_seconds() / 60:.1f} min")

# %%
# NBVAL_CHECK_OUTPUT
print(study.fingerprint())
