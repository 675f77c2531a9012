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
# # Does general-domain pretraining help? (Table 4)
#
# ULMFiT's first stage pretrains the language model on Wikipedia before it ever sees the target task.
# The paper (§5, Table 4) compares the full recipe with and without that stage — without it, the LM is
# fine-tuned on the task's text from random weights — and claims that **pretraining helps most on small
# datasets, and helps on large ones too**. Validation error is on 10% of the training set, as in the paper;
# test error is shown beside it and is never used for any choice.

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
study = studies.pretraining_impact(scale, datasets, seeds, device)

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
# ## Reproducibility
# The compute time of the runs behind this page, and a check value that changes with almost any change
# to the numerics (the tests re-run this notebook at the `smoke` scale and compare it).

# %%
print(f"{scale} scale; compute time of the runs behind this page: {study.wall_seconds() / 60:.1f} min")

# %%
# NBVAL_CHECK_OUTPUT
print(study.fingerprint())
