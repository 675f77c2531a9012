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
# # Low-shot learning (Figure 3)
#
# Figure 3 of the paper plots validation error against the number of labelled training examples for
# three methods: training from scratch, *supervised* ULMFiT (the LM fine-tuned only on the labelled
# examples) and *semi-supervised* ULMFiT (the LM fine-tuned on all the task's text). The claims: with 100
# labels, supervised ULMFiT matches training from scratch on 10× (IMDb) and 20× (AG) more data;
# semi-supervised ULMFiT matches 100× (IMDb) and 50× (AG); on TREC-6 the two ULMFiT variants are alike.
# The paper's plotted values are only in the figure, so the table shows ours alone. A linear model on the
# same texts (TF-IDF n-grams, regularisation chosen on validation; not in the paper) is drawn at every
# label count as a floor.
#
# Every classifier trains for its scale's epochs, chosen on the whole training set. On 100 labels those
# would be a few dozen steps, so at `reduced` and `gpu` a labelled set smaller than 1,000 is repeated
# until an epoch holds 1,000 examples: every point below 1,000 labels trains for as many steps as that
# one ("Deviations from the paper").

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
study = studies.low_shot(scale, datasets, seeds, device)

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
