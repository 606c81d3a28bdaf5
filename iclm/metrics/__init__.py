"""Pure metrics shared by the training probes (`iclm.training.probe`) and the studio's analysis (`analysis/`).

They live below both users so neither copies them: `iclm` imports nothing above it, and `analysis/` adds only
what needs pandas (contingency tables, module x module DataFrames, grouped bootstraps). Arrays in; floats or
typed frozen dataclasses out; numpy, scipy and sklearn only (sklearn imported where it is needed).

- `clusters`: how well routes recover the true datasets (NMI, ARI, homogeneity, completeness, purity).
- `routing`: how the router spreads examples over its codes (fractions, codebook perplexity).
- `similarity`: linear CKA (plain, debiased) and Pearson correlation between two modules' states.
- `information`: the MI-estimator registry (`batch`, `ksg`, `binned`) with seeded bootstrap intervals.
- `bootstrap`: the percentile bootstrap and its `Estimate`.
"""
