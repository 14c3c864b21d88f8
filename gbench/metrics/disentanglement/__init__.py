"""Disentanglement metrics: scores of a representation against ground-truth factors.

Each metric is a pure function with an explicit seed or generator, following
disentanglement_lib's estimators (Locatello et al., "Challenging Common
Assumptions in the Unsupervised Learning of Disentangled Representations",
ICML 2019):

  * :func:`mig` — Mutual Information Gap (Chen et al. 2018);
  * :func:`sap` — SAP score (Kumar et al. 2018);
  * :func:`dci` — disentanglement / completeness / informativeness
    (Eastwood & Williams 2018);
  * :func:`factorvae_score` — FactorVAE score (Kim & Mnih 2018).

``codes`` are float (N, L) mean codes, ``factors`` int (N, F) factor indices,
numpy or torch.
"""

from gbench.metrics.disentanglement.dci import dci
from gbench.metrics.disentanglement.factorvae import factorvae_score
from gbench.metrics.disentanglement.mig import mig, mig_per_factor, normalized_mutual_info_matrix
from gbench.metrics.disentanglement.sap import sap

__all__ = ["dci", "factorvae_score", "mig", "mig_per_factor", "normalized_mutual_info_matrix", "sap"]
