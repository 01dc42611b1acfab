"""Studies: end-to-end analyses that use the library on trained networks.

* :mod:`repalign.studies.feedback_alignment` — is direct feedback alignment's random
  feedback aligned with the true gradient beyond chance, layer by layer?
  (CLI: ``repalign study feedback-alignment --out DIR``.)

Studies import torch lazily; import the submodule you need.
"""
